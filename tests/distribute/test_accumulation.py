"""Gradient accumulation: k micro-steps of batch b == one step of batch k*b."""

import numpy as np
import pytest
import tensorflow as tf

from tfbig import keras
from tfbig.distribute import GradientAccumulationOptimizer
from tfbig.distribute import accumulate_gradients
from tfbig.testing import assert_weights_close
from tfbig.distribute import strategy as make_strategy

K, B = 4, 8


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.layers.Dense(16, activation="relu", input_shape=(64,)),
        keras.layers.Dense(10),
    ])


def _fit(strategy, optimizer_fn, x, y, batch_size, weights, epochs=1):
    with strategy.scope():
        model = _model()
        model.set_weights(weights)
        model.compile(optimizer_fn(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    return model


@pytest.fixture(scope="module")
def data(digits_train):
    x, y = digits_train
    return x[: 4 * K * B].reshape((-1, 64)), y[: 4 * K * B]


def _sgd():
    return keras.optimizers.SGD(0.5, momentum=0.9)


@pytest.mark.parametrize("replicas", [1, 2, 4])
def test_k_micro_steps_equal_one_big_step(data, replicas):
    """Micro-batch b per replica, k micro-steps == one step of k*b*replicas."""
    x, y = data
    weights = _model().get_weights()
    big = _fit(tf.distribute.get_strategy(), _sgd, x, y, K * B * replicas, weights)
    strategy = tf.distribute.get_strategy() if replicas == 1 else make_strategy(
        "mirrored", devices_per_worker=replicas)
    acc = _fit(strategy, lambda: accumulate_gradients(_sgd(), K), x, y, B * replicas, weights)
    assert_weights_close(acc, big, atol=1e-5)
    assert acc.optimizer.iterations.numpy() == 4 // replicas == big.optimizer.iterations.numpy()


def test_no_update_before_the_kth_micro_step(data):
    x, y = data
    model = _model()
    before = model.get_weights()
    model.compile(accumulate_gradients(keras.optimizers.SGD(0.5), K),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[: (K - 1) * B], y[: (K - 1) * B], batch_size=B, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    model.fit(x[(K - 1) * B: K * B], y[(K - 1) * B: K * B], batch_size=B, verbose=0)
    assert not np.allclose(model.get_weights()[0], before[0])


def test_saves_and_loads_without_custom_objects(data, tmp_path):
    """The wrapper, its inner optimizer and a half-done accumulation round-trip."""
    x, y = data
    model = _model()
    model.compile(accumulate_gradients(keras.optimizers.Adam(1e-3), 3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[: 4 * B], y[: 4 * B], batch_size=B, shuffle=False, verbose=0)  # 1 update + 1
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    opt, again = model.optimizer, loaded.optimizer
    assert isinstance(again, GradientAccumulationOptimizer) and again.accumulation_steps == 3
    assert isinstance(again.inner_optimizer, keras.optimizers.Adam)
    assert int(again.iterations.numpy()) == 1 and int(again._micro_steps.numpy()) == 4
    for a, b in zip(opt.variables + opt.inner_optimizer.variables,
                    again.variables + again.inner_optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))
    assert np.abs(np.asarray(again.variables[0])).sum() > 0  # mid-accumulation state
    config = opt.get_config()
    rebuilt = GradientAccumulationOptimizer.from_config(config).get_config()
    assert rebuilt["inner_optimizer"]["config"] == config["inner_optimizer"]["config"]
    assert rebuilt["accumulation_steps"] == 3


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((keras.optimizers.legacy.SGD(0.1), 2), TypeError, "inner_optimizer of type"),
        (("sgd", 2), TypeError, "inner_optimizer of type builtins.str"),
        ((keras.optimizers.SGD(0.1), 0), ValueError, "accumulation_steps=0"),
    ],
)
def test_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        GradientAccumulationOptimizer(*args)


def test_keras3_optimizer_is_refused():
    keras3 = pytest.importorskip("keras")
    if not keras3.__version__.startswith("3"):
        pytest.skip("the installed `keras` is not Keras 3")
    match = "TF_USE_LEGACY_KERAS=1.*Received: inner_optimizer of type keras"
    with pytest.raises(TypeError, match=match):
        accumulate_gradients(keras3.optimizers.SGD(0.1), 2)


class _CountingReduce(tf.distribute.ReductionToOneDevice):
    """Counts the all-reduces that actually execute (the op sits in the traced branch)."""

    def __init__(self):
        super().__init__()
        with tf.init_scope():
            self.count = tf.Variable(0, trainable=False)

    def batch_reduce_implementation(self, reduce_op, value_destination_pairs, options):
        self.count.assign_add(1)
        return super().batch_reduce_implementation(reduce_op, value_destination_pairs, options)


@pytest.mark.parametrize("k", [1, K])
def test_one_all_reduce_per_k_micro_steps(data, k):
    x, y = data
    counting = _CountingReduce()
    s = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"], cross_device_ops=counting)
    with s.scope():
        model = _model()
        model.compile(accumulate_gradients(keras.optimizers.SGD(0.1), k),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=2 * B, shuffle=False, verbose=0)  # 8 micro-steps
    assert int(counting.count.numpy()) == 8 // k


class _CustomStep(keras.Model):
    """A model with its own train_step (like a distiller): the optimizer composes."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def call(self, x):
        return self.inner(x)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            logits = self(x, training=True)
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
            loss += 1e-3 * tf.add_n([tf.reduce_sum(w ** 2) for w in self.trainable_weights])
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        return {"loss": loss}


def test_composes_with_a_custom_train_step_and_lr_callbacks(data):
    x, y = data
    x, y = x[: K * B], y[: K * B]
    weights = _model().get_weights()
    models = []
    for optimizer, batch in ((accumulate_gradients(_sgd(), K), B), (_sgd(), K * B)):
        model = _CustomStep(_model())
        model.inner.set_weights(weights)
        model.compile(optimizer)
        halve = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
        model.fit(x, y, batch_size=batch, shuffle=False, verbose=0, callbacks=[halve])
        models.append(model)
    acc, big = models
    assert float(acc.optimizer.inner_optimizer.learning_rate) == pytest.approx(0.25)
    assert_weights_close(acc.inner, big.inner, atol=1e-5)
