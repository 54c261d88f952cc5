"""A pruned student and a QAT student inside a Distiller, under MirroredStrategy:
they train, reach their sparsity, and convert to TFLite."""

import numpy as np
import pytest

import tfbig.export
import tfbig.prune
import tfbig.quantize
from tfbig import keras
from tfbig.distill import Distiller
from tfbig.distill import FeatureLoss
from tfbig.distill import LogitsLoss
from tfbig.models import mlp

from tests.distill._models import mirrored

SPARSITY = 0.5


@pytest.fixture(scope="module")
def data(digits_train):
    x, y = digits_train
    return x[:512], y[:512]


@pytest.fixture(scope="module")
def teacher(data):
    keras.utils.set_random_seed(0)
    model = mlp(hidden=(64,), dropout=0.0, name="teacher")
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(*data, batch_size=64, epochs=5, verbose=0)
    return model


def _in_scope(teacher):
    """The trained teacher, re-created inside the current strategy scope."""
    copy = keras.models.clone_model(teacher)
    copy.set_weights(teacher.get_weights())
    return copy


def _distill(teacher, student, data):
    distiller = Distiller(_in_scope(teacher), student,
                          [LogitsLoss(temperature=2.0), FeatureLoss("dense1", "dense1")],
                          alpha=0.5)
    distiller.compile(keras.optimizers.Adam(1e-2),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    history = distiller.fit(*data, batch_size=64, epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert history["accuracy"][-1] > 0.5
    return distiller


def _zero_fraction(kernel):
    return float(np.mean(np.asarray(kernel) == 0))


@pytest.mark.slow
def test_pruned_student_under_mirrored_reaches_sparsity_and_converts(teacher, data, tmp_path):
    strategy = mirrored(2)
    with strategy.scope():
        keras.utils.set_random_seed(1)
        student = tfbig.prune.magnitude(mlp(hidden=(16,), dropout=0.0, name="student"),
                                        SPARSITY, begin_step=0, end_step=16, frequency=4)
        distiller = _distill(teacher, student, data)
    # Distiller.fit added the PruningCallback the pruned student needs.
    stripped = tfbig.prune.strip(distiller.student)
    for name in ("dense1", "logits"):
        assert _zero_fraction(stripped.get_layer(name).kernel) == pytest.approx(SPARSITY, abs=0.01)
    path = str(tmp_path / "pruned.tflite")
    tfbig.export.tflite(stripped, path)
    report = tfbig.export.tflite_parity(stripped, path, data[0][:64])
    assert report.passed, report


@pytest.mark.slow
def test_qat_student_under_mirrored_trains_and_converts_to_int8(teacher, data, tmp_path):
    strategy = mirrored(2)
    with strategy.scope():
        keras.utils.set_random_seed(2)
        student = tfbig.quantize.qat(mlp(hidden=(16,), dropout=0.0, name="student"))
        distiller = _distill(teacher, student, data)
    path = str(tmp_path / "qat.tflite")
    tfbig.export.tflite(distiller.student, path, quantize="int8", calibration=data[0][:64])
    report = tfbig.export.tflite_parity(distiller.student, path, data[0][:128])
    assert report.mode == "statistical" and report.passed, report


def test_qat_transformer_student_with_attention_transfer(batch):
    from tfbig.distill import AttentionLoss
    from tfbig.models import transformer

    import tensorflow as tf

    keras.utils.set_random_seed(3)
    teacher = transformer(num_layers=1, d_model=16, num_heads=4, dropout=0.0, name="t")
    student = tfbig.quantize.qat(
        transformer(num_layers=1, d_model=8, num_heads=2, dropout=0.0, name="s"))
    attention = AttentionLoss("block1_mha", "quant_block1_mha")  # the wrapper's name works too
    distiller = Distiller(teacher, student, [LogitsLoss(), attention,
                                             FeatureLoss("block1_ln2", "block1_ln2")])
    distiller.compile(keras.optimizers.Adam(1e-2),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = distiller.fit(*batch, batch_size=16, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    _, (_, maps, _) = distiller._student_forward(tf.constant(batch[0][:4]), training=False)
    assert maps.shape == (4, 2, 8, 8)  # probabilities, read through the QuantizeWrapper
    # Fake-quantized (8-bit) probabilities: in [0, 1], rows sum to 1 up to rounding.
    assert np.all((maps.numpy() >= 0) & (maps.numpy() <= 1))
    np.testing.assert_allclose(np.sum(maps, -1), 1.0, atol=0.1)
