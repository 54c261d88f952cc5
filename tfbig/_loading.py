"""Loading saved models that hold tfbig objects, with no scope or custom_objects."""

import importlib

__all__ = ["load_model"]

# Subpackages whose import registers serializable Keras objects.
_REGISTERING = ("models", "distribute", "prune", "quantize", "distill")


def register_all():
    """Imports every tfbig subpackage that registers serializable Keras objects."""
    for name in _REGISTERING:
        importlib.import_module(f"tfbig.{name}")


def load_model(filepath, **kwargs):
    """Loads a Keras model (``.keras``, ``.h5`` or SavedModel) saved with tfbig objects.

    ``import tfbig`` is lazy, so a custom object (a pruning wrapper, a QAT layer,
    a ``Distiller``, a ``WarmupSchedule``...) is registered only once its
    subpackage is imported. This imports them all, then calls
    ``keras.models.load_model``: no scope or ``custom_objects`` is needed.

    Args:
        filepath: path of the saved model.
        **kwargs: passed to ``keras.models.load_model`` (e.g. ``compile=False``).

    Returns:
        The loaded tf_keras model.

    Raises:
        ValueError: when ``filepath`` does not exist.

    Example:

    >>> import os, tempfile
    >>> import tfbig
    >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
    >>> tfbig.models.mlp(hidden=(4,)).save(path)
    >>> tfbig.load_model(path).name
    'mlp'
    """
    import os

    from tfbig._backend import keras

    if not os.path.exists(filepath):
        raise ValueError(
            f"No saved model at {filepath!r}: check the path. Received: filepath={filepath!r}"
        )
    register_all()
    return keras.models.load_model(filepath, **kwargs)
