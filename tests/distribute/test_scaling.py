"""Batch / learning-rate scaling and the warmup schedule."""

import numpy as np
import pytest

from tfbig import keras
from tfbig.distribute import WarmupSchedule
from tfbig.distribute import global_batch_size
from tfbig.distribute import scale_learning_rate
from tfbig.distribute import strategy


def test_global_batch_counts_replicas():
    assert global_batch_size(16, strategy("mirrored", devices_per_worker=4)) == 64
    assert global_batch_size(16) == 16


def test_scaling_rules():
    assert scale_learning_rate(0.1, 512, 256) == pytest.approx(0.2)
    assert scale_learning_rate(0.1, 512, 128, rule="sqrt") == pytest.approx(0.2)
    assert scale_learning_rate(0.1, 128, 256) == pytest.approx(0.05)


def test_warmup_then_decay_schedule():
    decay = keras.optimizers.schedules.ExponentialDecay(0.8, decay_steps=1, decay_rate=0.5)
    schedule = WarmupSchedule(decay, warmup_steps=4, initial_learning_rate=0.0)
    got = [float(schedule(step)) for step in range(7)]
    np.testing.assert_allclose(got, [0.0, 0.2, 0.4, 0.6, 0.8, 0.4, 0.2], rtol=1e-6)


def test_warmup_drives_ordinary_fit_and_round_trips(tmp_path):
    """In-graph in fit: the optimizer's rate after n steps is schedule(n)."""
    schedule = WarmupSchedule(0.4, warmup_steps=10, initial_learning_rate=0.1)
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
    model.compile(keras.optimizers.SGD(schedule), "mse")
    model.fit(np.ones((12, 2)), np.ones((12, 1)), batch_size=2, verbose=0)  # 6 steps
    # the rate the 6th update used: schedule(5)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1 + 0.3 * 5 / 10)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects
    restored = loaded.optimizer._learning_rate
    assert isinstance(restored, WarmupSchedule)
    assert restored.get_config() == schedule.get_config()
    nested = WarmupSchedule(keras.optimizers.schedules.CosineDecay(0.4, 100), 5)
    again = WarmupSchedule.from_config(nested.get_config())
    np.testing.assert_allclose([float(again(s)) for s in (0, 3, 50)],
                               [float(nested(s)) for s in (0, 3, 50)])


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: global_batch_size(0), ValueError, "per_replica_batch_size=0"),
        (lambda: scale_learning_rate(0.1, 64, 32, rule="cubic"), ValueError, "rule='cubic'"),
        (lambda: scale_learning_rate(-1.0, 64, 32), ValueError, "base_learning_rate=-1.0"),
        (lambda: scale_learning_rate(0.1, 64, 0), ValueError, "base_batch_size=0"),
        (lambda: WarmupSchedule(0.1, warmup_steps=0), ValueError, "warmup_steps=0"),
        (lambda: WarmupSchedule("fast", warmup_steps=3), TypeError, "learning_rate of type str"),
        (lambda: WarmupSchedule(0.1, 3, initial_learning_rate=-1), ValueError,
         "initial_learning_rate=-1"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()

