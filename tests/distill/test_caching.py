import numpy as np
import pytest
import tensorflow as tf

from tfbig import keras
from tfbig.distill import Distiller
from tfbig.distill import FeatureLoss
from tfbig.distill import LogitsLoss
from tfbig.distill import cache_teacher_outputs
from tfbig.models import mlp
from tfbig.testing import assert_weights_close

from tests.distill._models import mirrored
from tests.distill._models import SubclassedNet


class CountingTeacher(SubclassedNet):
    """Counts the examples it has run on, in a variable (counts inside tf.function)."""

    def __init__(self, width=16, **kwargs):
        super().__init__(width, **kwargs)
        self.seen = tf.Variable(0, trainable=False, dtype=tf.int64)

    def call(self, inputs, training=None):
        self.seen.assign_add(tf.shape(inputs, out_type=tf.int64)[0])
        return super().call(inputs, training=training)


def _make(strategy=None, teacher_cls=SubclassedNet):
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        keras.utils.set_random_seed(0)
        teacher = teacher_cls(16, name="t")
        teacher(tf.zeros((1, 8, 8, 1)))
        student = mlp(hidden=(8,), dropout=0.0, name="s")
        distiller = Distiller(teacher, student,
                              [LogitsLoss(temperature=2.0), FeatureLoss("hidden", "dense1")])
        distiller.compile(keras.optimizers.SGD(0.1),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return distiller


def test_cached_values_equal_teacher_outputs(batch):
    x, y = batch
    distiller = _make()
    ds = cache_teacher_outputs(distiller, x, y, batch_size=20, shuffle=False)
    inputs, values, labels = [], [[], []], []
    for element, label in ds:
        inputs.append(element["tfbig_inputs"].numpy())
        labels.append(label.numpy())
        for i, v in enumerate(element["tfbig_teacher_outputs"]):
            values[i].append(v.numpy())
    np.testing.assert_array_equal(np.concatenate(inputs), x)
    np.testing.assert_array_equal(np.concatenate(labels), y)
    expected = distiller.teacher_outputs(tf.constant(x))
    assert [e.shape[-1] for e in expected] == [10, 16]
    for got, want in zip(values, expected):
        np.testing.assert_allclose(np.concatenate(got), want.numpy(), atol=1e-5)


def test_training_on_cache_equals_training_with_teacher(batch):
    x, y = batch
    direct = _make()
    direct.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    cached = _make()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    ds = cache_teacher_outputs(cached, dataset, shuffle=False)
    cached.fit(ds, epochs=2, verbose=0)
    assert_weights_close(direct.student, cached.student, atol=1e-6)
    np.testing.assert_allclose(cached.evaluate(ds, verbose=0), direct.evaluate(x, y, verbose=0),
                               rtol=1e-5)


def test_teacher_runs_once_not_every_epoch(batch):
    x, y = batch
    cached = _make(teacher_cls=CountingTeacher)
    start = int(cached.teacher.seen.numpy())
    ds = cache_teacher_outputs(cached, x, y, batch_size=16, seed=0)
    cached.fit(ds, epochs=3, verbose=0)
    assert int(cached.teacher.seen.numpy()) - start == len(x)
    direct = _make(teacher_cls=CountingTeacher)
    start = int(direct.teacher.seen.numpy())
    direct.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert int(direct.teacher.seen.numpy()) - start == 3 * len(x)


def test_cached_training_under_mirrored_equals_single_device(batch):
    x, y = batch
    single = _make()
    single.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    distributed = _make(mirrored(2))
    distributed.fit(cache_teacher_outputs(distributed, x, y, batch_size=16, shuffle=False),
                 epochs=1, verbose=0)
    assert_weights_close(single.student, distributed.student, atol=1e-5)


def test_bad_input(batch):
    x, y = batch
    distiller = _make()
    with pytest.raises(TypeError, match="must be a tfbig.distill.Distiller"):
        cache_teacher_outputs(distiller.student, x, y)
    with pytest.raises(ValueError, match="Received: y=None"):
        cache_teacher_outputs(distiller, x)
    infinite = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    with pytest.raises(ValueError, match="finite dataset"):
        cache_teacher_outputs(distiller, infinite)
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        cache_teacher_outputs(distiller, x, y, batch_size=0)
