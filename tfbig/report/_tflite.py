"""TFLite set-up for latency timing (predictions go through ``tfbig.export``)."""

import numpy as np


def interpreter(path, num_threads=None):
    """A LiteRT interpreter for ``path`` (``ai_edge_litert``, else ``tf.lite``)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - the dependency is declared
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(path), num_threads=num_threads)


def prepare(interp, batch_size):
    """Resizes the (single) input to ``batch_size`` and allocates tensors."""
    detail = interp.get_input_details()[0]
    shape = list(detail["shape"])
    if shape[0] != batch_size:
        interp.resize_tensor_input(detail["index"], [batch_size, *shape[1:]])
    interp.allocate_tensors()
    return interp.get_input_details()[0], interp.get_output_details()[0]


def quantize_input(x, detail):
    """Converts float ``x`` to the input tensor's dtype (quantizing ints)."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.integer):
        scale, zero = detail["quantization"]
        info = np.iinfo(dtype)
        x = np.clip(np.round(x / scale + zero), info.min, info.max)
    return np.asarray(x, dtype=dtype)
