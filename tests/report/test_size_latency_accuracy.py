"""Sizes, latency and accuracy of Keras models and TFLite files."""

import gzip
import os

import numpy as np
import pytest

from tfbig import keras
from tfbig.report import artifact_size
from tfbig.report import evaluate_accuracy
from tfbig.report import measure_latency
from tfbig.report import model_size
from tfbig.report import predict


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.random((40, 6)).astype("float32")
    y = (x[:, 0] > 0.5).astype("int32")
    inp = keras.Input((6,))
    model = keras.Model(inp, keras.layers.Dense(2, name="d")(keras.layers.Dense(8, activation="relu")(inp)))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, verbose=0)
    folder = tmp_path_factory.mktemp("tflite")
    float_path = folder / "float.tflite"
    float_path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i:i + 1]] for i in range(20))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    int8_path = folder / "int8.tflite"
    int8_path.write_bytes(converter.convert())
    return model, x, y, str(float_path), str(int8_path)


def test_artifact_size_of_file_and_directory(tmp_path):
    data = os.urandom(3000) + bytes(5000)
    (tmp_path / "a.bin").write_bytes(data)
    info = artifact_size(tmp_path / "a.bin")
    assert info.raw_bytes == 8000
    assert info.gzip_bytes == len(gzip.compress(data, compresslevel=9, mtime=0))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"x" * 100)
    folder = artifact_size(tmp_path)
    assert folder.raw_bytes == 8100 and folder.gzip_bytes > info.gzip_bytes
    assert artifact_size(tmp_path) == folder  # deterministic
    with pytest.raises(ValueError, match="path="):
        artifact_size(tmp_path / "missing.tflite")


def test_model_size_grows_with_parameters_and_zeros_compress():
    small = keras.Sequential([keras.layers.Dense(4, input_shape=(64,))])
    big = keras.Sequential([keras.layers.Dense(256, input_shape=(64,))])
    assert model_size(big, "h5").raw_bytes - model_size(small, "h5").raw_bytes >= 4 * 64 * 252
    zeros = keras.Sequential([keras.layers.Dense(256, input_shape=(64,))])
    zeros.set_weights([np.zeros_like(w) for w in zeros.get_weights()])
    assert model_size(zeros).gzip_bytes * 10 < model_size(big).gzip_bytes
    with pytest.raises(ValueError, match="save_format='onnx'"):
        model_size(small, "onnx")


def test_tflite_accuracy_matches_keras(tiny):
    model, x, y, float_path, int8_path = tiny
    np.testing.assert_allclose(predict(float_path, x), predict(model, x), atol=1e-4)
    keras_acc = evaluate_accuracy(model, x, y)
    assert keras_acc == float(np.mean(model.predict(x, verbose=0).argmax(-1) == y))
    assert evaluate_accuracy(float_path, x, y) == keras_acc
    assert abs(evaluate_accuracy(int8_path, x, y) - keras_acc) <= 0.1
    assert evaluate_accuracy(model, x, np.eye(2)[y]) == keras_acc


def test_latency_of_keras_and_tflite(tiny):
    model, _, _, float_path, int8_path = tiny
    for target in (model, float_path, int8_path):
        one = measure_latency(target, batch_size=1, repeats=5)
        many = measure_latency(target, batch_size=16, repeats=5)
        assert one.median_ms > 0 and many.batch_size == 16
        assert one.p90_ms >= one.median_ms
    with pytest.raises(ValueError, match="batch_size=0"):
        measure_latency(model, batch_size=0)
    with pytest.raises(ValueError, match="No TFLite file"):
        measure_latency("missing.tflite")
