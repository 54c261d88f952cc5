"""The LiteRT interpreter (``ai-edge-litert``), with ``tf.lite`` as fallback."""

import collections
import os

import numpy as np


def interpreter_class():
    """The LiteRT ``Interpreter`` class; ``tf.lite.Interpreter`` if LiteRT is absent."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - ai-edge-litert is a dependency
        import tensorflow as tf

        return tf.lite.Interpreter
    return Interpreter


def load(path_or_bytes, num_threads=None, delegates=True):
    """An interpreter over a ``.tflite`` path or flatbuffer bytes."""
    cls = interpreter_class()
    kwargs = {"num_threads": num_threads}
    if not delegates:
        try:
            from ai_edge_litert.interpreter import OpResolverType
        except ImportError:  # pragma: no cover
            import tensorflow as tf

            OpResolverType = tf.lite.experimental.OpResolverType
        kwargs["experimental_op_resolver_type"] = (
            OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return cls(model_content=bytes(path_or_bytes), **kwargs)
    path = os.fspath(path_or_bytes)
    if not os.path.isfile(path):
        raise ValueError(
            f"No TFLite file at {path!r}; write one with tfbig.export.tflite. "
            f"Received: path={path!r}"
        )
    return cls(model_path=path, **kwargs)


_QUANTIZED = ("int8", "uint8", "int16")
_BOUNDARY = ("QUANTIZE", "DEQUANTIZE")


def op_kinds(path_or_bytes):
    """Classifies each op: ``{"int8"|"float"|"hybrid"|"other": Counter(op name)}``.

    An op is *int8* when its activation (non-constant) inputs are quantized,
    *float* when they are float, *hybrid* when float activations meet int8
    constant weights (dynamic-range quantization); shape arithmetic and the
    QUANTIZE/DEQUANTIZE boundary ops are *other*.
    """
    interpreter = load(path_or_bytes, delegates=False)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # pylint: disable=protected-access
    produced = {i for op in ops for i in op["outputs"]}
    graph_inputs = {d["index"] for d in interpreter.get_input_details()}
    kinds = {k: collections.Counter() for k in ("int8", "float", "hybrid", "other")}
    for op in ops:
        name = op["op_name"]
        inputs = [i for i in op["inputs"] if i >= 0]
        live = [i for i in inputs if i in produced or i in graph_inputs]
        const = [i for i in inputs if i not in produced and i not in graph_inputs]
        live_types = {np.dtype(tensors[i]["dtype"]).name for i in live}
        const_types = {np.dtype(tensors[i]["dtype"]).name for i in const}
        if name in _BOUNDARY:
            kind = "other"
        elif live_types & set(_QUANTIZED):
            kind = "int8"
        elif live_types & {"float32", "float16"}:
            kind = "hybrid" if const_types & set(_QUANTIZED) else "float"
        elif not live and const_types & {"float32", "float16"}:
            kind = "float"
        else:
            kind = "other"
        kinds[kind][name] += 1
    return kinds


def tensor_dtypes(path_or_bytes):
    """The set of tensor dtype names in a TFLite model."""
    interpreter = load(path_or_bytes, delegates=False)
    return {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}


def io_dtypes(path_or_bytes):
    """``(first input dtype name, first output dtype name)``."""
    interpreter = load(path_or_bytes, delegates=False)
    return (
        np.dtype(interpreter.get_input_details()[0]["dtype"]).name,
        np.dtype(interpreter.get_output_details()[0]["dtype"]).name,
    )
