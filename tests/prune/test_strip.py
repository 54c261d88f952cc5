"""strip: plain models with the zeros kept; 2:4 and block patterns survive."""

import numpy as np
import pytest
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_utils

from tfbig import keras
from tfbig.prune import magnitude
from tfbig.prune import sparsity_report
from tfbig.prune import strip
from tests.prune.conftest import BUILDERS
from tests.prune.conftest import SubclassedNet
from tests.prune.conftest import TransformerBlock
from tests.prune.conftest import compile_model
from tests.prune.conftest import data_for


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_strip_gives_plain_model_with_same_outputs(kind):
    x, y = data_for(kind, n=32)
    pruned = compile_model(magnitude(BUILDERS[kind](), target_sparsity=0.5, end_step=1,
                                     frequency=1))
    pruned.fit(x, y, batch_size=16, verbose=0)
    plain = strip(pruned)
    np.testing.assert_allclose(plain(x), pruned(x, training=False), atol=1e-5)
    from tfbig.prune._walk import wrappers

    assert not wrappers(plain)
    assert not any("PruneLowMagnitude" in type(m).__name__ for m in plain.submodules)
    if kind == "subclassed":
        assert type(plain) is SubclassedNet
    elif kind == "sequential":
        assert type(plain) is keras.Sequential
    else:
        assert type(plain).__name__ == "Functional"
    if kind == "transformer":
        assert isinstance(plain.get_layer("block"), TransformerBlock)
    # The pruned model keeps working after stripping (it was not modified).
    pruned.fit(x, y, batch_size=16, verbose=0)


def test_strip_refuses_a_model_without_wrappers():
    with pytest.raises(ValueError, match="nothing to strip"):
        strip(BUILDERS["sequential"]())


def test_two_of_four_pattern():
    x, y = data_for("functional_tf_ops", n=32)
    pruned = compile_model(magnitude(BUILDERS["functional_tf_ops"](), sparsity_m_by_n=(2, 4)))
    pruned.fit(x, y, batch_size=16, epochs=2, verbose=0)
    plain = strip(pruned)
    for name in ("c1", "f1", "f2"):
        kernel = plain.get_layer(name).kernel
        assert pruning_utils.is_pruned_m_by_n(kernel, (2, 4)), name
        # Pattern-wise by hand: groups of 4 along the input channel keep at most 2.
        rows = pruning_utils.weights_rearrange(kernel).numpy()
        groups = rows[:, : rows.shape[1] // 4 * 4].reshape(rows.shape[0], -1, 4)
        assert (np.count_nonzero(groups, axis=-1) <= 2).all()
    assert abs(sparsity_report(plain).overall - 0.5) < 0.01


def test_block_sparsity_zeros_whole_blocks():
    x, y = data_for("sequential", n=32)
    pruned = compile_model(magnitude(BUILDERS["sequential"](), target_sparsity=0.5, end_step=1,
                                     frequency=1, block_size=(4, 2), layers=["s1"]))
    pruned.fit(x, y, batch_size=16, verbose=0)
    kernel = strip(pruned).get_layer("s1").kernel.numpy()  # 64 x 32
    blocks = kernel.reshape(16, 4, 16, 2).transpose(0, 2, 1, 3).reshape(16, 16, 8)
    zero_blocks = (blocks == 0).all(axis=-1)
    assert abs(zero_blocks.mean() - 0.5) < 0.005
    assert np.count_nonzero(kernel == 0) == zero_blocks.sum() * 8
