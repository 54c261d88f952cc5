"""Chief-only paths (single process: the chief) and step-level resume."""

import numpy as np
import pytest

from tfbig import keras
from tfbig.distribute import backup_and_restore
from tfbig.distribute import chief_path
from tfbig.distribute import is_chief


def test_single_process_is_the_chief(tmp_path):
    assert is_chief()
    with chief_path(tmp_path / "export") as path:
        assert path == str(tmp_path / "export")
    with pytest.raises(ValueError, match="path=''"):
        with chief_path(""):
            pass


class _Crash(keras.callbacks.Callback):
    def __init__(self, at_step):
        super().__init__()
        self.at_step = at_step

    def on_train_batch_end(self, batch, logs=None):
        if self.model.optimizer.iterations.numpy() == self.at_step:
            raise RuntimeError("simulated failure")


def test_resumed_fit_ends_at_the_planned_step_count(tmp_path):
    """10 steps/epoch x 2 epochs; crash at step 13, backups every 4 steps."""
    x, y = np.ones((40, 3), "float32"), np.zeros((40, 1), "float32")

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))])
        m.compile(keras.optimizers.SGD(0.01), "mse")
        return m

    first = model()
    with pytest.raises(RuntimeError, match="simulated failure"):
        first.fit(x, y, batch_size=4, epochs=2, verbose=0,
                  callbacks=[backup_and_restore(tmp_path, save_freq=4), _Crash(13)])
    second = model()
    history = second.fit(x, y, batch_size=4, epochs=2, verbose=0,
                         callbacks=[backup_and_restore(tmp_path, save_freq=4)])
    assert int(second.optimizer.iterations.numpy()) == 20
    assert len(history.epoch) == 1 and history.epoch == [1]  # resumed in epoch 2
    reference = model()
    reference.fit(x, y, batch_size=4, epochs=2, verbose=0)
    np.testing.assert_allclose(second.get_weights()[0], reference.get_weights()[0], atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [({"save_freq": 0}, "save_freq=0"),
                                           ({"save_freq": "batch"}, "save_freq='batch'")])
def test_bad_backup_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        backup_and_restore(tmp_path, **kwargs)
    with pytest.raises(ValueError, match="backup_dir=''"):
        backup_and_restore("")
