"""tfbig: train big Keras models on many devices, then make them small and ship them.

``import tfbig`` is cheap: TensorFlow is imported only when a capability is
first used. The subpackages are:

- ``tfbig.distribute``: strategies, launcher, scaling, accumulation, resume.
- ``tfbig.prune``: weight pruning and structured pruning.
- ``tfbig.quantize``: quantization-aware training and post-training int8.
- ``tfbig.distill``: output and intermediate-representation distillation.
- ``tfbig.export``: SavedModel, Keras and TFLite writers, TFLite evaluation.
- ``tfbig.report``: model statistics and per-stage comparison.
- ``tfbig.data`` / ``tfbig.models``: embedded data and reference models.

The most used names are also here (``tfbig.strategy``, ``tfbig.Distiller``,
``tfbig.qat``, ``tfbig.Report``, ``tfbig.load_model``...).

``from tfbig import keras`` gives the Keras tfbig speaks (tf_keras).
"""

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = (
    "data",
    "distill",
    "distribute",
    "export",
    "models",
    "prune",
    "quantize",
    "report",
    "train",
)

# Public names re-exported at the top level: name -> defining module.
# Generic names (``magnitude``, ``plan``, ``tflite``...) stay in their subpackage.
_PUBLIC = {
    "load_model": "tfbig._loading",
    # distribution
    "strategy": "tfbig.distribute",
    "launch_workers": "tfbig.distribute",
    "set_logical_devices": "tfbig.distribute",
    "distribute_dataset": "tfbig.distribute",
    "accumulate_gradients": "tfbig.distribute",
    "WarmupSchedule": "tfbig.distribute",
    "pipeline": "tfbig.distribute",
    # compression
    "qat": "tfbig.quantize",
    "Distiller": "tfbig.distill",
    "LogitsLoss": "tfbig.distill",
    "FeatureLoss": "tfbig.distill",
    "AttentionLoss": "tfbig.distill",
    # proof
    "Report": "tfbig.report",
}

__all__ = ["keras", "__version__", *_SUBPACKAGES, *_PUBLIC]


def __getattr__(name):
    if name == "keras":
        from tfbig._backend import keras

        return keras
    if name in _SUBPACKAGES:
        return importlib.import_module(f"tfbig.{name}")
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'tfbig' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
