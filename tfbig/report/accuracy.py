"""Accuracy of a Keras model or a TFLite file on held-out data."""

import os

import numpy as np

from tfbig._backend import check_model

__all__ = ["predict", "evaluate_accuracy"]


def predict(model, x, batch_size=256):
    """Outputs of a Keras model or a ``.tflite`` file on ``x``, as float32 numpy.

    Integer-quantized TFLite inputs and outputs are quantized and dequantized
    with the file's own scale and zero point.

    Args:
        model: a tf_keras model or the path of a ``.tflite`` file.
        x: inputs, a numpy array.
        batch_size: examples per call. Defaults to 256.

    Returns:
        A float32 numpy array of outputs.

    Raises:
        ValueError: for a missing file.

    Example:

    >>> import numpy as np
    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
    >>> predict(m, np.zeros((5, 4), "float32")).shape
    (5, 3)
    """
    if isinstance(model, (str, os.PathLike)):
        if not os.path.isfile(model):
            raise ValueError(
                f"No TFLite file at `model`. Received: model={os.fspath(model)!r}"
            )
        from tfbig.export import predict_tflite  # the one TFLite runner

        return predict_tflite(os.fspath(model), np.asarray(x, "float32"), batch_size=batch_size)
    check_model(model)
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), "float32")


def evaluate_accuracy(model, x, y, batch_size=256):
    """Top-1 accuracy of a classifier (Keras model or ``.tflite`` file).

    Args:
        model: a tf_keras model or the path of a ``.tflite`` file; it outputs
            logits or probabilities (argmax is taken).
        x: inputs, a numpy array.
        y: integer class ids ``(N,)`` or one-hot labels ``(N, classes)``.
        batch_size: examples per call. Defaults to 256.

    Returns:
        A float in ``[0, 1]``.

    Raises:
        ValueError: if ``x`` and ``y`` have different lengths.

    Example:

    >>> import numpy as np
    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(1,))])
    >>> m.set_weights([np.array([[1.0, -1.0]]), np.zeros(2)])
    >>> evaluate_accuracy(m, np.array([[1.0], [-1.0]]), np.array([0, 0]))
    0.5
    """
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(
            "`x` and `y` must have the same number of examples. "
            f"Received: len(x)={len(x)}, len(y)={len(y)}"
        )
    if y.ndim == 2:
        y = y.argmax(axis=-1)
    outputs = predict(model, x, batch_size=batch_size)
    return float(np.mean(outputs.argmax(axis=-1) == y.reshape(-1)))
