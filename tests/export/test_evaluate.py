import numpy as np
import pytest
import tensorflow as tf

from tests.quantize import trained
from tfbig import export
from tfbig import keras


@pytest.fixture(scope="module")
def float_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("eval") / "cnn.tflite"
    return export.tflite(trained.float_cnn(), path).path


def test_evaluate_matches_keras_accuracy(float_file):
    _, _, xt, yt = trained.digits()
    got = export.evaluate_tflite(float_file, (xt, yt), batch_size=50)
    assert got == {"accuracy": trained.accuracy(trained.float_cnn(), xt, yt), "num_samples": 360}
    unbatched = tf.data.Dataset.from_tensor_slices((xt[:30], yt[:30]))
    assert export.evaluate_tflite(float_file, unbatched)["num_samples"] == 30


def test_predict_handles_partial_batches(float_file):
    xt = trained.digits()[2][:37]
    expected = trained.float_cnn().predict(xt, verbose=0)
    np.testing.assert_allclose(export.predict_tflite(float_file, xt, batch_size=16), expected,
                               atol=1e-4)


def test_parity_fails_for_another_model(float_file):
    xt = trained.digits()[2][:64]
    keras.utils.set_random_seed(9)
    from tfbig.models import cnn

    other = cnn(filters=(16, 32), dense_units=32)
    report = export.tflite_parity(other, float_file, xt)
    assert report.mode == "exact" and not report.passed and report.max_abs_diff > 1e-2


def test_bad_inputs(float_file, tmp_path):
    xt = trained.digits()[2]
    with pytest.raises(ValueError, match="No TFLite file"):
        export.evaluate_tflite(tmp_path / "missing.tflite", (xt, np.zeros(len(xt))))
    with pytest.raises(ValueError, match=r"expects \(8, 8, 1\)"):
        export.predict_tflite(float_file, xt.reshape(-1, 64))
    with pytest.raises(TypeError, match="tuple"):
        export.evaluate_tflite(float_file, xt)
    with pytest.raises(ValueError, match="batch_size"):
        export.predict_tflite(float_file, xt, batch_size=0)
