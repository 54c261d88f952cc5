"""Writers for SavedModel, Keras and TFLite files, and a TFLite evaluator.

Every writer is atomic and refuses to replace an existing path unless
``overwrite=True``. ``tflite`` converts float or QAT models (float32, dynamic
int8, full int8 with calibration, float16) and summarizes the file;
``evaluate_tflite`` and ``tflite_parity`` run it with the LiteRT interpreter.
"""

from tfbig.export.evaluate import ParityReport
from tfbig.export.evaluate import evaluate_tflite
from tfbig.export.evaluate import predict_tflite
from tfbig.export.evaluate import tflite_parity
from tfbig.export.saving import keras
from tfbig.export.saving import savedmodel
from tfbig.export.tflite import TFLiteSummary
from tfbig.export.tflite import is_qat_model
from tfbig.export.tflite import tflite

__all__ = [
    "ParityReport",
    "TFLiteSummary",
    "evaluate_tflite",
    "is_qat_model",
    "keras",
    "predict_tflite",
    "savedmodel",
    "tflite",
    "tflite_parity",
]
