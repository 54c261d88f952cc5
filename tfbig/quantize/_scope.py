"""Registers tfmot's quantization classes so QAT models load without a scope.

tfmot's wrappers and quantizers are not registered with Keras, so loading a QAT
model needs ``with tfmot.quantization.keras.quantize_scope():`` (tfmot issues
#426, #773). tfbig registers the same objects once, when a QAT model is first
built or ``tfbig.quantize`` is imported; afterwards ``keras.models.load_model``
works as for any model. Existing registrations are never overwritten.

tfmot also serializes wrapped layers so that h5/SavedModel loading looks them
up by bare class name; every ``"package>Name"`` registration (tfbig's and
yours, if registered before this runs) is aliased under ``"Name"`` too.
"""

import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (  # noqa: E501
    prune_preserve_quantize_registry as _prune_preserve,
)

from tfbig._backend import keras

_DONE = []


def _alias_registered_classes(registry):
    # tfmot's wrappers serialize the wrapped layer in the new format (bare
    # class_name plus registered_name) but h5/SavedModel loading deserializes it
    # the legacy way, by bare class_name. Alias "package>Name" under "Name".
    for key, obj in list(registry.items()):
        if ">" in key:
            registry.setdefault(key.split(">", 1)[1], obj)


def register_tfmot_objects():
    """Adds tfmot's quantization objects to Keras' global custom objects."""
    import tfbig.models.reference  # noqa: F401  (registers PositionEmbedding)

    registry = keras.utils.get_custom_objects()
    if _DONE:
        _alias_registered_classes(registry)
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
    for name, obj in objects.items():
        registry.setdefault(name, obj)
    _alias_registered_classes(registry)
    _DONE.append(True)
