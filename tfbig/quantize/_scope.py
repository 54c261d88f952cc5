"""Registers tfmot's quantization classes so QAT models load without a scope.

tfmot's wrappers and quantizers are not registered with Keras, so loading a QAT
model needs ``with tfmot.quantization.keras.quantize_scope():`` (tfmot issues
#426, #773). tfbig registers the same objects once, when a QAT model is first
built or ``tfbig.quantize`` is imported; afterwards ``keras.models.load_model``
works as for any model. Existing registrations are never overwritten.
"""

import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (  # noqa: E501
    prune_preserve_quantize_registry as _prune_preserve,
)

from tfbig._backend import keras

_DONE = []


def register_tfmot_objects():
    """Adds tfmot's quantization objects to Keras' global custom objects."""
    if _DONE:
        return
    objects = {}
    for mapping in tfmot.quantization.keras.quantize_scope().custom_objects:
        objects.update(mapping)
    for name in (
        "PrunePreserveDefaultWeightsQuantizer",
        "PrunePreserveDefault8BitWeightsQuantizer",
        "PrunePreserveDefault8BitConvWeightsQuantizer",
    ):
        objects[name] = getattr(_prune_preserve, name)
    registry = keras.utils.get_custom_objects()
    for name, obj in objects.items():
        registry.setdefault(name, obj)
    _DONE.append(True)
