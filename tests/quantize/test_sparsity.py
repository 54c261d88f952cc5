"""Sparsity-preserving QAT of a model pruned with tfbig.prune."""

import numpy as np
import pytest

from tests.quantize import trained
from tfbig import export
from tfbig import keras
from tfbig.quantize import is_pruned
from tfbig.quantize import qat
from tfbig.quantize import quantization_report


@pytest.fixture(scope="module")
def pruned():
    from tfbig.models import cnn
    from tfbig.prune import magnitude
    from tfbig.prune import strip

    x, y, _, _ = trained.digits()
    keras.utils.set_random_seed(5)
    base = trained.compile_for_digits(cnn(filters=(8, 16), dense_units=32))
    base.fit(x, y, epochs=1, batch_size=32, verbose=0)
    model = trained.compile_for_digits(magnitude(base, target_sparsity=0.6, end_step=40, frequency=10))
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return strip(model)


def _kernel_zero_fractions(model):
    """Zero fraction of each wrapped kernel as the quantizer emits it."""
    fractions = {}
    for layer in model.layers:
        for weight, quantizer, variables in getattr(layer, "_weight_vars", []):
            fractions[layer.name] = float(np.mean(quantizer(weight, False, variables).numpy() == 0))
    return fractions


def _fit(model):
    x, y, _, _ = trained.digits()
    trained.compile_for_digits(model, 1e-3).fit(x, y, epochs=1, batch_size=32, verbose=0)
    return model


def test_pruned_model_keeps_its_zeros_through_qat_and_into_int8(pruned, tmp_path):
    assert is_pruned(pruned) and not is_pruned(trained.float_cnn())
    model = _fit(qat(pruned))  # preserve_sparsity="auto"
    report = quantization_report(model)
    assert sorted(report.sparsity_preserved) == [
        "quant_conv1", "quant_conv2", "quant_fc", "quant_logits"]
    for name, fraction in _kernel_zero_fractions(model).items():
        assert fraction >= 0.59, (name, fraction)
    x = trained.digits()[0]
    summary = export.tflite(model, tmp_path / "sparse.tflite", quantize="int8", calibration=x)
    dense = export.tflite(trained.qat_cnn(), tmp_path / "dense.tflite", quantize="int8", calibration=x)
    # Same architecture family, 60% zeros: much better compression.
    assert summary.gzip_bytes / summary.bytes < 0.8 * dense.gzip_bytes / dense.bytes
    assert summary.float_ops == {}


def test_without_preservation_the_zeros_are_lost(pruned):
    model = _fit(qat(pruned, preserve_sparsity=False))
    assert quantization_report(model).sparsity_preserved == []
    assert max(_kernel_zero_fractions(model).values()) < 0.4
