"""Quantization-aware training (QAT) on tfmot, including transformer blocks.

``qat(model)`` returns a model to compile and fit with quantization simulated;
``tfbig.export.tflite(..., quantize="int8")`` turns it (or any float model) into
an int8 TFLite file.
"""

from tfbig.quantize._scope import register_tfmot_objects as _register_tfmot_objects
from tfbig.quantize.attention import QuantizableMultiHeadAttention
from tfbig.quantize.configs import LayerQuantizeConfig
from tfbig.quantize.configs import NamedLastValueQuantizer
from tfbig.quantize.configs import NamedMovingAverageQuantizer
from tfbig.quantize.configs import SparsityPreservingWeightsQuantizer
from tfbig.quantize.qat import is_pruned
from tfbig.quantize.qat import qat
from tfbig.quantize.registry import tfbig_quantize_config
from tfbig.quantize.report import QuantizationReport
from tfbig.quantize.report import quantization_report

_register_tfmot_objects()

__all__ = [
    "LayerQuantizeConfig",
    "NamedLastValueQuantizer",
    "NamedMovingAverageQuantizer",
    "QuantizableMultiHeadAttention",
    "QuantizationReport",
    "SparsityPreservingWeightsQuantizer",
    "is_pruned",
    "qat",
    "quantization_report",
    "tfbig_quantize_config",
]
