"""tf_keras.applications at 32x32: a 50 % plan applies, runs, and shrinks as planned.

Each application is built once; the test zeros the planned channels first so
that the pruned network must also compute exactly what the zeroed one does.
"""

import numpy as np
import pytest

from tfbig import keras
from tfbig.prune import structured as sp
from tfbig.report import count_flops

APPS = {
    "MobileNetV2": keras.applications.MobileNetV2,
    "ResNet50": keras.applications.ResNet50,
    "EfficientNetB0": keras.applications.EfficientNetB0,
}
# ResNet50 also loses a quarter of its 12 identity blocks (projection blocks stay).
BLOCKS = {"ResNet50": (0.25, 3)}


@pytest.mark.parametrize("name", sorted(APPS))
def test_half_plan_applies_and_shrinks(name):
    keras.utils.set_random_seed(0)
    model = APPS[name](weights=None, input_shape=(32, 32, 3), classes=10)
    block_ratio, blocks = BLOCKS.get(name, (0.0, 0))
    p = sp.plan(model, ratio=0.5, round_to=8, block_ratio=block_ratio)
    assert len(p.blocks) == blocks
    for variable, mask in p.zero_masks():  # makes removal exact (checked below)
        variable.assign(variable * mask)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = np.asarray(model(x, training=False))
    new = p.apply()
    np.testing.assert_allclose(np.asarray(new(x, training=False)), expected, atol=1e-4)
    assert new.count_params() == p.params_after
    assert len(new.layers) == len(model.layers) - sum(len(b.layers) + 1 for b in p.blocks)
    assert count_flops(new) == p.flops_after
    # halving coupled in- and out-channels removes ~3/4 of the weights and FLOPs
    assert p.params_after < 0.4 * p.params_before
    assert p.flops_after < 0.4 * p.flops_before
    assert dict(p.intact) == {"predictions": "its softmax activation mixes every channel"}
    for g in p.groups:
        if g.removed:
            assert g.kept % 8 == 0 and g.kept <= g.size // 2 + 4, g

