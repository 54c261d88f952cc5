"""Run a ``.tflite`` file on data with LiteRT: predictions, accuracy, parity."""

import dataclasses

import numpy as np
import tensorflow as tf

from tfbig._backend import check_model
from tfbig.export._interpreter import load

__all__ = ["predict_tflite", "evaluate_tflite", "tflite_parity", "ParityReport"]


def _quantize_input(x, detail):
    scale, zero_point = detail["quantization"]
    dtype = detail["dtype"]
    if np.dtype(dtype).kind in "iu" and scale:
        info = np.iinfo(dtype)
        x = np.clip(np.round(x / scale + zero_point), info.min, info.max)
    return x.astype(dtype)


def _dequantize_output(y, detail):
    scale, zero_point = detail["quantization"]
    if np.dtype(detail["dtype"]).kind in "iu" and scale:
        return (y.astype(np.float32) - zero_point) * scale
    return y.astype(np.float32)


def _check_batch_size(batch_size):
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(
            f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}"
        )


def predict_tflite(path, x, batch_size=64, num_threads=None):
    """Runs a single-input ``.tflite`` model on ``x``; returns float outputs.

    Integer inputs/outputs (``inference_input_type="int8"``) are quantized and
    dequantized with the file's own scale and zero point, so ``x`` is always the
    float data the Keras model takes.

    Args:
        path: a ``.tflite`` path (or flatbuffer bytes).
        x: a float array of inputs, batch first.
        batch_size: rows per interpreter call (a file with a fixed batch
            dimension uses its own). Defaults to 64.
        num_threads: interpreter threads, ``None`` for LiteRT's default.
            Defaults to ``None``.

    Returns:
        A float32 ``np.ndarray`` of the first output.

    Example:

    >>> import os, tempfile, numpy as np
    >>> from tfbig import keras, export
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    >>> p = export.tflite(m, os.path.join(tempfile.mkdtemp(), "m.tflite")).path
    >>> predict_tflite(p, np.ones((5, 3), "float32")).shape
    (5, 2)
    """
    _check_batch_size(batch_size)
    interpreter = load(path, num_threads=num_threads)
    (inp,) = interpreter.get_input_details()
    out = interpreter.get_output_details()[0]
    x = np.asarray(x, dtype=np.float32)
    expected = tuple(inp["shape_signature"][1:])
    if x.shape[1:] != tuple(int(d) for d in expected) and -1 not in expected:
        raise ValueError(
            f"Inputs have shape {x.shape[1:]} per sample but the TFLite model expects "
            f"{tuple(int(d) for d in expected)}. Received: x.shape={x.shape}"
        )
    fixed = int(inp["shape_signature"][0])
    step = fixed if fixed > 0 else batch_size
    current, outputs = None, []
    for start in range(0, len(x), step):
        chunk = x[start : start + step]
        rows = len(chunk)
        if fixed > 0 and rows < fixed:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - rows, 0)])
        if fixed <= 0 and current != len(chunk):
            interpreter.resize_tensor_input(inp["index"], [len(chunk), *x.shape[1:]])
            current = None
        if current is None:
            interpreter.allocate_tensors()
            current = len(chunk)
        interpreter.set_tensor(inp["index"], _quantize_input(chunk, inp))
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])
        outputs.append(_dequantize_output(y, out)[:rows])
    return np.concatenate(outputs) if outputs else np.zeros((0,), np.float32)


def _arrays(data):
    if isinstance(data, tf.data.Dataset):
        xs, ys = [], []
        for element in data.as_numpy_iterator():
            if not isinstance(element, tuple) or len(element) < 2:
                raise ValueError(
                    "The dataset must yield (x, y) pairs to measure accuracy. "
                    f"Received: element of type {type(element).__name__}"
                )
            xs.append(element[0])
            ys.append(element[1])
        if not xs:
            raise ValueError("The evaluation dataset is empty. Received: data=<empty dataset>")
        batched = np.ndim(ys[0]) > 0
        stack = np.concatenate if batched else np.stack
        return stack(xs), stack(ys)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return np.asarray(data[0]), np.asarray(data[1])
    raise TypeError(
        "`data` must be a tf.data.Dataset of (x, y) or a tuple (x, y) of arrays. "
        f"Received: data of type {type(data).__name__}"
    )


def evaluate_tflite(path, data, batch_size=64, num_threads=None):
    """Top-1 accuracy (and sample count) of a classifier ``.tflite`` file.

    The file's outputs are scores (logits or probabilities) over classes;
    labels are integer class ids.

    Args:
        path: a ``.tflite`` file.
        data: a ``tf.data.Dataset`` of ``(x, y)`` (batched or not) or a tuple
            ``(x, y)`` of arrays.
        batch_size: rows per interpreter call. Defaults to 64.
        num_threads: interpreter threads. Defaults to ``None``.

    Returns:
        ``{"accuracy": float, "num_samples": int}``.

    Example:

    >>> import os, tempfile, numpy as np
    >>> from tfbig import keras, export
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    >>> p = export.tflite(m, os.path.join(tempfile.mkdtemp(), "m.tflite")).path
    >>> evaluate_tflite(p, (np.ones((4, 3), "float32"), np.zeros(4)))["num_samples"]
    4
    """
    x, y = _arrays(data)
    scores = predict_tflite(path, x, batch_size=batch_size, num_threads=num_threads)
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if len(y) != len(scores):
        raise ValueError(
            f"`data` gives {len(y)} labels for {len(scores)} inputs; they must pair up. "
            f"Received: {len(y)} labels"
        )
    accuracy = float(np.mean(np.argmax(scores, axis=-1) == y))
    return {"accuracy": accuracy, "num_samples": int(len(y))}


@dataclasses.dataclass
class ParityReport:
    """How closely a ``.tflite`` file reproduces its Keras model.

    Attributes:
        max_abs_diff: largest absolute output difference.
        mean_abs_diff: mean absolute output difference.
        top1_agreement: fraction of samples with the same argmax.
        mode: ``"exact"`` (float file) or ``"statistical"`` (quantized file).
        passed: whether the differences are within the mode's tolerance.
    """

    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float
    mode: str
    passed: bool


def tflite_parity(model, path, x, atol=1e-4, min_top1_agreement=0.95, batch_size=64):
    """Compares a ``.tflite`` file with the Keras model it came from.

    A float32 file must match to ``atol`` (exact up to float rounding); a
    quantized file (int8 ops, int8 or float16 weights) is judged statistically:
    top-1 agreement of at least ``min_top1_agreement``.

    Args:
        model: the Keras model (float or QAT).
        path: the ``.tflite`` file written from it.
        x: float inputs, batch first.
        atol: tolerance for float files. Defaults to 1e-4.
        min_top1_agreement: threshold for quantized files. Defaults to 0.95.
        batch_size: rows per call. Defaults to 64.

    Returns:
        A :class:`ParityReport`.

    Example:

    >>> import os, tempfile, numpy as np
    >>> from tfbig import keras, export
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    >>> p = export.tflite(m, os.path.join(tempfile.mkdtemp(), "m.tflite")).path
    >>> tflite_parity(m, p, np.ones((4, 3), "float32")).passed
    True
    """
    from tfbig.export._interpreter import op_kinds
    from tfbig.export._interpreter import tensor_dtypes

    check_model(model)
    x = np.asarray(x, dtype=np.float32)
    expected = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float32)
    got = predict_tflite(path, x, batch_size=batch_size)
    diff = np.abs(got - expected)
    agreement = float(np.mean(np.argmax(got, -1) == np.argmax(expected, -1)))
    kinds = op_kinds(path)
    quantized = bool(kinds["int8"] or kinds["hybrid"]) or "float16" in tensor_dtypes(path)
    mode = "statistical" if quantized else "exact"
    passed = agreement >= min_top1_agreement if quantized else bool(diff.max() <= atol)
    return ParityReport(float(diff.max()), float(diff.mean()), agreement, mode, passed)
