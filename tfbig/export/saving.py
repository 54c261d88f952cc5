"""SavedModel and Keras-format writers: atomic, never overwriting unasked."""

import os

from absl import logging

from tfbig._backend import check_model
from tfbig.export._files import atomic_path
from tfbig.export._files import check_target
from tfbig.export.tflite import is_qat_model

__all__ = ["savedmodel", "keras"]

_KERAS_EXTENSIONS = (".keras", ".h5")


def _register_quantization_objects():
    # A QAT model's tfmot classes must be known to Keras to load without a scope.
    from tfbig.quantize._scope import register_tfmot_objects

    register_tfmot_objects()


def savedmodel(model, path, overwrite=False):
    """Writes ``model`` as a TensorFlow SavedModel directory, atomically.

    Float and QAT models alike; the directory loads with
    ``keras.models.load_model`` (once ``tfbig`` is imported, no scope needed) or
    ``tf.saved_model.load`` for serving.

    Args:
        model: a tf_keras model.
        path: the directory to create.
        overwrite: replace an existing directory. Defaults to ``False``.

    Returns:
        The absolute path written.

    Raises:
        TypeError: for a Keras 3 model.
        ValueError: if ``path`` exists and ``overwrite`` is ``False``.

    Example:

    >>> import os, tempfile
    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    >>> out = savedmodel(m, os.path.join(tempfile.mkdtemp(), "m"))
    >>> os.path.isfile(os.path.join(out, "saved_model.pb"))
    True
    """
    check_model(model)
    path = check_target(path, overwrite)
    _register_quantization_objects()
    with atomic_path(path) as temp:
        model.save(temp, save_format="tf")
    logging.info("tfbig.export.savedmodel: wrote %s", path)
    return path


def keras(model, path, overwrite=False):
    """Writes ``model`` in Keras format (``.keras`` zip, or legacy ``.h5``), atomically.

    QAT models (from ``tfbig.quantize.qat``) must use ``.h5``: tfmot's
    wrappers do not load from the ``.keras`` zip format.

    Args:
        model: a tf_keras model (float or QAT).
        path: a file path ending in ``.keras`` or ``.h5``.
        overwrite: replace an existing file. Defaults to ``False``.

    Returns:
        The absolute path written.

    Raises:
        TypeError: for a Keras 3 model.
        ValueError: for another extension, ``.keras`` for a QAT model, or if
            ``path`` exists and ``overwrite`` is ``False``.

    Example:

    >>> import os, tempfile
    >>> from tfbig import keras as tfk
    >>> m = tfk.Sequential([tfk.layers.Dense(2, input_shape=(3,))])
    >>> out = keras(m, os.path.join(tempfile.mkdtemp(), "m.keras"))
    >>> tfk.models.load_model(out).output_shape
    (None, 2)
    """
    check_model(model)
    if not str(os.fspath(path)).endswith(_KERAS_EXTENSIONS):
        raise ValueError(
            f"A Keras-format path must end in {' or '.join(_KERAS_EXTENSIONS)}; use "
            f"tfbig.export.savedmodel for a directory. Received: path={path!r}"
        )
    if str(os.fspath(path)).endswith(".keras") and is_qat_model(model):
        raise ValueError(
            f"QAT model {model.name!r} cannot be saved in the .keras zip format: "
            "tfmot's quantize wrappers do not rebuild their variables from it. Save "
            "it as .h5 (Keras format) or with tfbig.export.savedmodel; both load "
            f"without a scope. Received: path={os.fspath(path)!r}"
        )
    path = check_target(path, overwrite)
    _register_quantization_objects()
    with atomic_path(path) as temp:
        model.save(temp)
    logging.info("tfbig.export.keras: wrote %s", path)
    return path
