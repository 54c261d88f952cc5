import os

import keras as keras3
import numpy as np
import pytest
import tensorflow as tf

from tests.quantize import trained
from tfbig import export
from tfbig import keras


@pytest.fixture(scope="module")
def data():
    return trained.digits()


@pytest.fixture(scope="module")
def float_cnn():
    return trained.float_cnn()


@pytest.mark.parametrize("quantize", [None, "dynamic", "int8", "float16"])
def test_each_mode_writes_a_file_that_runs(float_cnn, data, tmp_path, quantize):
    x, _, xt, yt = data
    kwargs = {"calibration": x} if quantize == "int8" else {}
    summary = export.tflite(float_cnn, tmp_path / "m.tflite", quantize=quantize, **kwargs)
    assert os.path.getsize(summary.path) == summary.bytes > 0
    assert 0 < summary.gzip_bytes <= summary.bytes
    float_acc = trained.accuracy(float_cnn, xt, yt)
    acc = export.evaluate_tflite(summary.path, (xt, yt))["accuracy"]
    parity = export.tflite_parity(float_cnn, summary.path, xt)
    assert parity.passed, parity
    if quantize is None:
        assert parity.mode == "exact" and not summary.int8_ops and not summary.hybrid_ops
        assert acc == float_acc
    else:
        assert parity.mode == "statistical"
    if quantize == "int8":
        assert not summary.float_ops and summary.int8_ops["CONV_2D"] == 2
        assert float_acc - acc <= 0.005 + 1e-9, (float_acc, acc)
    if quantize == "dynamic":
        assert summary.hybrid_ops and not summary.int8_ops
    if quantize in ("dynamic", "int8"):
        assert summary.bytes < 0.4 * os.path.getsize(
            export.tflite(float_cnn, tmp_path / "f.tflite").path)


def test_transformer_ptq_int8_within_one_point(data, tmp_path):
    x, _, xt, yt = data
    model = trained.float_transformer()
    summary = export.tflite(model, tmp_path / "t.tflite", quantize="int8", calibration=x,
                            num_calibration_samples=100)
    assert summary.float_ops == {} and summary.int8_ops["BATCH_MATMUL"] == 2
    acc = export.evaluate_tflite(summary.path, (xt, yt))["accuracy"]
    assert trained.accuracy(model, xt, yt) - acc <= 0.01 + 1e-9


def test_int8_inputs_and_outputs(float_cnn, data, tmp_path):
    x, _, xt, yt = data
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x)))).batch(16)
    summary = export.tflite(float_cnn, tmp_path / "io.tflite", quantize="int8", calibration=ds,
                            num_calibration_samples=64, inference_input_type="int8",
                            inference_output_type="int8", batch_size=1)
    assert (summary.input_dtype, summary.output_dtype) == ("int8", "int8")
    assert "QUANTIZE" not in summary.int8_ops
    acc = export.evaluate_tflite(summary.path, tf.data.Dataset.from_tensor_slices((xt, yt)).batch(50))
    assert acc["num_samples"] == len(yt)
    assert trained.accuracy(float_cnn, xt, yt) - acc["accuracy"] <= 0.005 + 1e-9


def test_refuses_existing_path_unless_overwrite(tmp_path):
    model = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    path = tmp_path / "m.tflite"
    path.write_bytes(b"keep me")
    with pytest.raises(ValueError, match="already exists.*overwrite=True.*Received: path="):
        export.tflite(model, path)
    assert path.read_bytes() == b"keep me"
    summary = export.tflite(model, path, overwrite=True)
    assert path.stat().st_size == summary.bytes
    assert sorted(os.listdir(tmp_path)) == ["m.tflite"]  # no temporary left behind


def test_bad_calibration_data(float_cnn, data, tmp_path):
    x = data[0]
    out = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match=r"'image' has samples of shape \(64,\).*\(8, 8, 1\)"):
        export.tflite(float_cnn, out, quantize="int8", calibration=x.reshape(-1, 64))
    with pytest.raises(ValueError, match="floating point.*Received: dtype=uint8"):
        export.tflite(float_cnn, out, quantize="int8", calibration=(x * 16).astype("uint8"))
    with pytest.raises(ValueError, match="Calibration data is empty"):
        export.tflite(float_cnn, out, quantize="int8", calibration=x[:0])
    empty = tf.data.Dataset.from_tensor_slices(x).take(0)
    with pytest.raises(ValueError, match="Calibration data is empty"):
        export.tflite(float_cnn, out, quantize="int8", calibration=empty)
    with pytest.raises(ValueError, match="needs `calibration`"):
        export.tflite(float_cnn, out, quantize="int8")
    with pytest.raises(TypeError, match="Received: calibration of type str"):
        export.tflite(float_cnn, out, quantize="int8", calibration="data/")
    with pytest.raises(ValueError, match="num_calibration_samples"):
        export.tflite(float_cnn, out, quantize="int8", calibration=x, num_calibration_samples=0)
    assert not out.exists()


def test_bad_options(float_cnn, tmp_path):
    out = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match="Received: quantize='int4'"):
        export.tflite(float_cnn, out, quantize="int4")
    with pytest.raises(ValueError, match="needs quantize='int8'"):
        export.tflite(float_cnn, out, quantize="dynamic", inference_input_type="int8")
    with pytest.raises(ValueError, match="QAT.*quantize='int8'"):
        export.tflite(trained.qat_cnn(), out, quantize="float16")


def test_op_without_int8_kernel_is_named(tmp_path):
    inputs = keras.Input((4,))
    hidden = tf.math.sin(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden), name="sine")
    x = np.random.default_rng(0).random((32, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"'sine' cannot be fully int8.*SIN \(x1\).*"
                                         r"quantize='dynamic'.*allow_float_fallback=True"):
        export.tflite(model, tmp_path / "s.tflite", quantize="int8", calibration=x)
    assert not (tmp_path / "s.tflite").exists()
    summary = export.tflite(model, tmp_path / "s.tflite", quantize="int8", calibration=x,
                            allow_float_fallback=True)
    assert summary.float_ops == {"SIN": 1} and summary.int8_ops == {"FULLY_CONNECTED": 2}


def test_keras3_model_is_refused(tmp_path):
    m3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)])
    with pytest.raises(TypeError, match="Keras 3"):
        export.tflite(m3, tmp_path / "m.tflite")
    with pytest.raises(TypeError, match="Keras 3"):
        export.savedmodel(m3, tmp_path / "sm")
