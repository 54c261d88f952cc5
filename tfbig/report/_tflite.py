"""A minimal TFLite runner: float or integer-quantized inputs and outputs."""

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


def dequantize_output(y, detail):
    """Converts an output tensor back to float32 (dequantizing ints)."""
    if np.issubdtype(detail["dtype"], np.integer):
        scale, zero = detail["quantization"]
        return (y.astype("float32") - zero) * scale
    return y.astype("float32")


def predict(path, x, batch_size=64, num_threads=None):
    """Runs the TFLite model at ``path`` on ``x`` in batches; float32 outputs."""
    interp = interpreter(path, num_threads)
    x = np.asarray(x, dtype="float32")
    outputs, current = [], None
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size]
        if current != len(chunk):
            in_detail, out_detail = prepare(interp, len(chunk))
            current = len(chunk)
        interp.set_tensor(in_detail["index"], quantize_input(chunk, in_detail))
        interp.invoke()
        outputs.append(dequantize_output(interp.get_tensor(out_detail["index"]), out_detail))
    return np.concatenate(outputs, axis=0)
