import numpy as np
import pytest
import tensorflow as tf

from tfbig import keras
from tfbig.distill import AttentionLoss
from tfbig.distill import Distiller
from tfbig.distill import FeatureLoss
from tfbig.distill import LogitsLoss
from tfbig.models import transformer


def _maps(shape, seed):
    logits = np.random.default_rng(seed).normal(size=shape).astype("float32")
    e = np.exp(logits)
    return e / e.sum(-1, keepdims=True)


T4 = _maps((2, 4, 5, 5), 0)
S4 = _maps((2, 4, 5, 5), 1)
S2 = _maps((2, 2, 5, 5), 2)
S3 = _maps((2, 3, 5, 5), 3)


def _loss(teacher, student, **kwargs):
    return float(AttentionLoss("t", "s", **kwargs)(tf.constant(teacher), tf.constant(student)))


def test_same_heads_mse_and_kl_by_hand():
    np.testing.assert_allclose(_loss(T4, S4), np.mean((T4 - S4) ** 2), rtol=1e-5)
    kl = np.mean(np.sum(T4 * (np.log(T4) - np.log(S4)), -1))
    np.testing.assert_allclose(_loss(T4, S4, loss="kl"), kl, rtol=1e-4)


def test_divisible_head_counts_average_groups():
    grouped = T4.reshape(2, 2, 2, 5, 5).mean(2)  # heads (0,1) and (2,3)
    np.testing.assert_allclose(_loss(T4, S2), np.mean((grouped - S2) ** 2), rtol=1e-5)
    # The student may also have more heads than the teacher.
    student_grouped = S4.reshape(2, 2, 2, 5, 5).mean(2)
    np.testing.assert_allclose(
        _loss(S2, S4), np.mean((S2 - student_grouped) ** 2), rtol=1e-5
    )


def test_other_head_counts_and_heads_mean_average_all():
    expected = np.mean((T4.mean(1) - S3.mean(1)) ** 2)
    np.testing.assert_allclose(_loss(T4, S3), expected, rtol=1e-5)
    expected = np.mean((T4.mean(1) - S2.mean(1)) ** 2)
    np.testing.assert_allclose(_loss(T4, S2, heads="mean"), expected, rtol=1e-5)


def test_different_lengths_are_rejected():
    with pytest.raises(ValueError, match="same query and key lengths.*student_layer='s'"):
        _loss(T4, T4[:, :, :3, :3])
    with pytest.raises(ValueError, match="Received: heads='first'"):
        AttentionLoss("t", "s", heads="first")


@pytest.fixture(scope="module")
def transformers():
    keras.utils.set_random_seed(0)
    teacher = transformer(num_layers=2, d_model=32, num_heads=4, dropout=0.0, name="t")
    student = transformer(num_layers=1, d_model=16, num_heads=2, dropout=0.0, name="s")
    return teacher, student


def test_tapped_attention_equals_return_attention_scores(transformers, batch):
    teacher, student = transformers
    distiller = Distiller(
        teacher, student, [AttentionLoss("block2_mha", "block1_mha")]
    )
    x = batch[0][:8]
    (tapped,) = distiller.teacher_outputs(tf.constant(x))
    block_input = keras.Model(teacher.input, teacher.get_layer("block1_ln2").output)(x)
    _, scores = teacher.get_layer("block2_mha")(
        block_input, block_input, return_attention_scores=True
    )
    assert tapped.shape == (8, 4, 8, 8)
    np.testing.assert_allclose(tapped.numpy(), scores.numpy(), atol=1e-6)
    # The layer is left exactly as it was: no patch survives the forward pass.
    assert not {"call", "_compute_attention"} & set(vars(teacher.get_layer("block2_mha")))


def test_attention_layer_must_be_multi_head_attention(transformers):
    teacher, student = transformers
    with pytest.raises(ValueError,
                       match="MultiHeadAttention.*Received: teacher_layer='block1_ln1'"):
        Distiller(teacher, student, [AttentionLoss("block1_ln1", "block1_mha")])


def test_transformer_distillation_with_attention_and_features(transformers, batch, scce):
    teacher, student = transformers
    teacher_before = teacher.get_weights()
    student_params = student.count_params()
    losses = [
        LogitsLoss(temperature=2.0),
        AttentionLoss("block2_mha", "block1_mha"),  # 4 teacher heads -> 2 student heads
        FeatureLoss("block2_ln2", "block1_ln2", weight=0.5),  # width 32 <- 16: projection
    ]
    distiller = Distiller(teacher, student, losses, alpha=0.2)
    distiller.compile(keras.optimizers.Adam(1e-2), scce, metrics=["accuracy"])
    x, y = batch
    terms_before = _terms(distiller, losses, x)
    history = distiller.fit(x, y, batch_size=16, epochs=4, verbose=0)
    terms_after = _terms(distiller, losses, x)
    assert all(np.isfinite(history.history["loss"]))
    assert history.history["distillation_loss"][-1] < history.history["distillation_loss"][0]
    assert terms_after[2] < terms_before[2], "features did not move to the teacher's"
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    # The learned projection lives in the loss, not in the student.
    assert losses[2].projection_layer.kernel.shape == (16, 32)
    assert distiller.student.count_params() == student_params


def _terms(distiller, losses, x):
    teacher_values = distiller.teacher_outputs(tf.constant(x))
    _, student_values = distiller._student_forward(tf.constant(x), training=False)
    plan = distiller._plan
    return [
        float(loss(teacher_values[t], student_values[s]))
        for loss, t, s in zip(losses, plan.teacher_index, plan.student_index)
    ]


@pytest.mark.parametrize("loss", ["mse", "kl"])
def test_attention_transfer_alone_moves_student_maps_to_teacher(transformers, batch, scce, loss):
    teacher, _ = transformers
    keras.utils.set_random_seed(1)
    student = transformer(num_layers=1, d_model=16, num_heads=2, dropout=0.0, name="s2")
    terms = [AttentionLoss("block1_mha", "block1_mha", loss=loss)]
    distiller = Distiller(teacher, student, terms, alpha=0.0)
    distiller.compile(keras.optimizers.Adam(1e-2), scce)
    x, y = batch
    before = _terms(distiller, terms, x)[0]
    distiller.fit(x, y, batch_size=16, epochs=3, verbose=0)
    after = _terms(distiller, terms, x)[0]
    assert after < 0.5 * before, (before, after)
