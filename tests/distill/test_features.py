import numpy as np
import pytest
import tensorflow as tf

from tfbig import keras
from tfbig.distill import FeatureLoss

RNG = np.random.default_rng(0)
TEACHER = RNG.normal(size=(3, 5, 6)).astype("float32")
STUDENT = RNG.normal(size=(3, 5, 6)).astype("float32")


def _cosine_loss(t, s):
    t = t / np.linalg.norm(t, axis=-1, keepdims=True)
    s = s / np.linalg.norm(s, axis=-1, keepdims=True)
    return np.mean(1.0 - np.sum(t * s, -1))


@pytest.mark.parametrize(
    "loss, expected",
    [
        ("mse", np.mean((TEACHER - STUDENT) ** 2)),
        ("l1", np.mean(np.abs(TEACHER - STUDENT))),
        ("cosine", _cosine_loss(TEACHER, STUDENT)),
    ],
)
def test_same_width_equals_hand_computation(loss, expected):
    term = FeatureLoss("t", "s", loss=loss)
    got = term(tf.constant(TEACHER), tf.constant(STUDENT))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    assert term.projection_layer is None


@pytest.mark.parametrize("loss", ["mse", "l1", "cosine"])
def test_projection_equals_hand_computation(loss):
    student = RNG.normal(size=(3, 5, 4)).astype("float32")
    term = FeatureLoss("t", "s", loss=loss)
    got = term(tf.constant(TEACHER), tf.constant(student))
    kernel = term.projection_layer.kernel.numpy()
    assert kernel.shape == (4, 6) and len(term.trainable_weights) == 1
    projected = student @ kernel
    expected = {
        "mse": np.mean((TEACHER - projected) ** 2),
        "l1": np.mean(np.abs(TEACHER - projected)),
        "cosine": _cosine_loss(TEACHER, projected),
    }[loss]
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_projection_always_and_never():
    always = FeatureLoss("t", "s", projection="always")
    always(tf.constant(TEACHER), tf.constant(STUDENT))
    assert always.projection_layer.kernel.shape == (6, 6)
    never = FeatureLoss("t", "s", projection="never")
    with pytest.raises(ValueError, match="projection='never'.*student_layer='s'"):
        never(tf.constant(TEACHER), tf.constant(STUDENT[..., :4]))


def test_shapes_beyond_width_must_agree():
    with pytest.raises(ValueError, match="every axis but the last.*teacher_layer='t'"):
        FeatureLoss("t", "s")(tf.constant(TEACHER), tf.constant(STUDENT[:, :3]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: loss='kl'"):
        FeatureLoss("t", "s", loss="kl")
    with pytest.raises(ValueError, match="Received: projection='yes'"):
        FeatureLoss("t", "s", projection="yes")
    with pytest.raises(TypeError, match="Received: student_layer=3"):
        FeatureLoss("t", 3)


def test_config_round_trip():
    term = FeatureLoss("fc", "hidden", loss="cosine", projection="never", weight=2.0)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(term)
    )
    assert type(restored) is FeatureLoss and restored.get_config() == term.get_config()
