import numpy as np
import pytest
import tensorflow as tf

from tfbig import keras
from tfbig.distill import LogitsLoss


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


TEACHER = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], "float32")
STUDENT = np.array([[1.0, 1.0, 0.0], [-0.5, 0.7, 1.5]], "float32")


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_kl_equals_hand_computation_with_t_squared(temperature):
    p = _softmax(TEACHER / temperature)
    q = _softmax(STUDENT / temperature)
    expected = np.mean(np.sum(p * np.log(p / q), -1)) * temperature**2
    got = LogitsLoss(temperature=temperature)(tf.constant(TEACHER), tf.constant(STUDENT))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_kl_matches_keras_kl_divergence():
    t = 3.0
    keras_kl = keras.losses.KLDivergence()(
        tf.nn.softmax(TEACHER / t), tf.nn.softmax(STUDENT / t)
    )
    got = LogitsLoss(temperature=t)(tf.constant(TEACHER), tf.constant(STUDENT))
    np.testing.assert_allclose(float(got), float(keras_kl) * t * t, rtol=1e-4)


def test_mse_on_raw_logits():
    got = LogitsLoss(loss="mse", temperature=5.0)(tf.constant(TEACHER), tf.constant(STUDENT))
    np.testing.assert_allclose(float(got), np.mean((TEACHER - STUDENT) ** 2), rtol=1e-6)


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan")])
def test_non_positive_temperature_is_rejected(temperature):
    with pytest.raises(ValueError, match=r"`temperature` must be .*Received: temperature="):
        LogitsLoss(temperature=temperature)


def test_bad_loss_and_weight_are_rejected():
    with pytest.raises(ValueError, match="Received: loss='kld'"):
        LogitsLoss(loss="kld")
    with pytest.raises(ValueError, match="Received: weight=-1"):
        LogitsLoss(weight=-1)
    with pytest.raises(TypeError, match="Received: temperature='4'"):
        LogitsLoss(temperature="4")


def test_config_round_trip():
    loss = LogitsLoss(temperature=4.0, loss="mse", weight=0.5, name="soft")
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss)
    )
    assert type(restored) is LogitsLoss
    assert restored.get_config() == loss.get_config()
    assert (restored.temperature, restored.loss, restored.weight) == (4.0, "mse", 0.5)
