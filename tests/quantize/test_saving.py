"""QAT models save and load with no quantize_scope and no custom_objects."""

import subprocess
import sys

import numpy as np
import pytest

from tests.quantize import trained
from tfbig import export
from tfbig import keras
from tfbig.quantize import quantization_report
from tfbig.testing import run_saving_test


@pytest.mark.parametrize("builder", ["qat_cnn", "qat_transformer"])
def test_save_load_equal_outputs_without_scope(builder, tmp_path):
    model = getattr(trained, builder)()
    x = trained.digits()[2][:64]
    loaded = run_saving_test(model, x, formats=("h5", "savedmodel"), atol=1e-6,
                             directory=str(tmp_path))
    report = quantization_report(loaded["h5"])
    assert report.quantized == quantization_report(model).quantized


def test_loads_in_a_fresh_process_without_scope(tmp_path):
    model = trained.qat_transformer()
    x = trained.digits()[2][:16]
    path = export.keras(model, tmp_path / "qat.h5")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    code = (
        "import numpy as np, tfbig.quantize\n"
        "from tfbig import keras\n"
        f"m = keras.models.load_model({path!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r}); y = np.load({str(tmp_path / 'y.npy')!r})\n"
        "np.testing.assert_allclose(m.predict(x, verbose=0), y, atol=1e-6)\n"
        "print('LOADED', type(m.get_layer('quant_block1_mha').layer).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "LOADED QuantizableMultiHeadAttention" in out.stdout


def test_keras_zip_format_is_refused_for_qat_models(tmp_path):
    with pytest.raises(ValueError, match=r"\.keras zip format.*\.h5.*Received: path="):
        export.keras(trained.qat_cnn(), tmp_path / "qat.keras")
