"""Schedules in steps or epochs; the end step always prunes."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule as tfmot_schedule

from tfbig import keras
from tfbig.prune import ConstantSparsity
from tfbig.prune import PolynomialDecay
from tfbig.prune import magnitude
from tfbig.prune import sparsity_report
from tests.prune.conftest import BUILDERS
from tests.prune.conftest import compile_model
from tests.prune.conftest import data_for


def _prunes(schedule, step):
    return bool(schedule(tf.constant(step, tf.int64))[0])


def test_end_step_always_prunes_unlike_tfmot():
    # 10 steps with frequency 4: tfmot never updates the mask at step 10.
    theirs = tfmot_schedule.PolynomialDecay(0.0, 0.8, begin_step=0, end_step=10, frequency=4)
    ours = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=10, frequency=4)
    assert not _prunes(theirs, 10)
    assert _prunes(ours, 10)
    assert float(ours(tf.constant(10, tf.int64))[1]) == pytest.approx(0.8)
    assert [_prunes(ours, s) for s in (0, 4, 8, 9, 11)] == [True, True, True, False, False]


def test_epochs_convert_to_steps():
    schedule = PolynomialDecay(final_sparsity=0.6, begin_epoch=1, end_epoch=3,
                               frequency_epochs=0.5, steps_per_epoch=10)
    assert (schedule.begin_step, schedule.end_step, schedule.frequency) == (10, 30, 5)
    constant = ConstantSparsity(0.3, begin_epoch=2, steps_per_epoch=8)
    assert (constant.begin_step, constant.end_step, constant.frequency) == (16, -1, 2)
    assert PolynomialDecay(end_step=500).frequency == 100  # tfmot's default in steps


def test_config_round_trip():
    for schedule in (PolynomialDecay(0.1, 0.7, end_epoch=2, power=2, frequency=3),
                     ConstantSparsity(0.4, begin_step=5, end_step=9)):
        config = schedule.get_config()
        assert config["class_name"].startswith("tfbig>")
        again = keras.utils.deserialize_keras_object(config)
        assert again.get_config() == config


def test_unresolved_epochs_error_names_the_fix():
    schedule = PolynomialDecay(final_sparsity=0.5, end_epoch=2)
    assert schedule.needs_steps_per_epoch
    with pytest.raises(ValueError, match="steps_per_epoch"):
        schedule(tf.constant(1, tf.int64))


def test_epoch_schedule_reaches_target_at_the_named_epoch():
    x, y = data_for("sequential")  # 64 examples, batch 16: 4 steps per epoch
    pruned = compile_model(magnitude(BUILDERS["sequential"](), target_sparsity=0.8,
                                     begin_epoch=1, end_epoch=3, frequency=1))
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(round(sparsity_report(self.model).overall, 3))

    pruned.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[Record()])
    # Epoch 1 (index 0) before pruning, then the ramp, target at the end of epoch 3.
    assert seen[0] == 0.0
    assert 0.0 < seen[1] < 0.79
    assert seen[2:] == [0.8, 0.8]


def test_epoch_schedule_without_known_steps_fails_at_start_of_fit():
    x, y = data_for("sequential", n=32)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    pruned = compile_model(magnitude(BUILDERS["sequential"](), target_sparsity=0.5, end_epoch=1))
    dataset = dataset.filter(lambda a, b: True)  # unknown cardinality
    with pytest.raises(ValueError, match="steps per epoch"):
        pruned.fit(dataset, epochs=1, verbose=0, steps_per_epoch=None)


@pytest.mark.parametrize("bad", [dict(final_sparsity=1.0, end_step=3),
                                 dict(final_sparsity=0.5, end_step=3, frequency=0),
                                 dict(final_sparsity=0.5),
                                 dict(final_sparsity=0.5, begin_step=3, end_epoch=4)])
def test_bad_schedules(bad):
    with pytest.raises(ValueError, match="Received"):
        PolynomialDecay(**bad)


def test_numbers_match_tfmot_curve_inside_the_range():
    ours = PolynomialDecay(0.1, 0.9, begin_step=2, end_step=12, frequency=2)
    theirs = tfmot_schedule.PolynomialDecay(0.1, 0.9, begin_step=2, end_step=12, frequency=2)
    for step in range(0, 14):
        a = [np.asarray(v) for v in ours(tf.constant(step, tf.int64))]
        b = [np.asarray(v) for v in theirs(tf.constant(step, tf.int64))]
        np.testing.assert_allclose(a[1], b[1], atol=1e-6)
        if step != 12:
            assert a[0] == b[0]
