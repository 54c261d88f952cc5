"""Pruned models save, load (no scope) and resume the schedule where it stopped."""

import numpy as np
import pytest

from tfbig import keras
from tfbig.prune import PrunedModel
from tfbig.prune import magnitude
from tfbig.prune import sparsity_report
from tfbig.testing import run_saving_test
from tests.prune.conftest import BUILDERS
from tests.prune.conftest import compile_model
from tests.prune.conftest import data_for


def _step(model):
    from tfbig.prune._walk import wrappers

    return int(wrappers(model)[0][1].pruning_step.numpy())


@pytest.mark.parametrize("kind", ["sequential", "transformer", "subclassed"])
def test_save_load_mid_training_outputs_equal(kind, tmp_path):
    x, y = data_for(kind, n=32)
    pruned = compile_model(magnitude(BUILDERS[kind](), target_sparsity=0.6, end_step=8,
                                     frequency=1))
    pruned.fit(x, y, batch_size=16, verbose=0)  # mid-schedule: 2 of 8 steps
    formats = {"sequential": ("keras", "h5", "savedmodel"), "transformer": ("keras", "savedmodel"),
               "subclassed": ("keras", "savedmodel")}[kind]
    loaded = run_saving_test(pruned, x, formats=formats, directory=str(tmp_path))
    for model in loaded.values():
        assert type(model) is type(pruned)
        assert _step(model) == 2


def test_resume_after_reload_continues_the_schedule(tmp_path):
    x, y = data_for("nested", n=64)  # 4 steps per epoch

    def fresh():
        return compile_model(magnitude(BUILDERS["nested"](), target_sparsity=0.8,
                                       begin_epoch=0, end_epoch=2, frequency=1))

    keras.utils.set_random_seed(1)
    straight = fresh()
    straight.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)

    keras.utils.set_random_seed(1)
    first = fresh()
    first.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert 0.0 < sparsity_report(first).overall < 0.8
    path = str(tmp_path / "mid.keras")
    first.save(path)
    resumed = keras.models.load_model(path)
    assert isinstance(resumed, PrunedModel) and _step(resumed) == 4
    resumed.fit(x, y, batch_size=16, epochs=2, initial_epoch=1, shuffle=False, verbose=0)
    assert _step(resumed) == 8
    assert abs(sparsity_report(resumed).overall - 0.8) <= 0.005
    # Same weights and masks as training without the interruption.
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_stripped_model_saves_and_loads_as_plain_keras(tmp_path):
    from tfbig.prune import strip

    x, _ = data_for("transformer", n=8)
    stripped = strip(magnitude(BUILDERS["transformer"](), target_sparsity=0.5))
    run_saving_test(stripped, x, formats=("keras", "h5"), directory=str(tmp_path))
