"""Rebuilds a functional model so that tfmot's QuantizeWrapper can wrap each layer.

``QuantizeWrapper.call`` forwards exactly one input. Two common transformer
pieces break that: ``MultiHeadAttention`` is called as ``mha(query, value)`` and
a ``+`` residual becomes a ``TFOpLambda`` called as ``add(x, y=y)``. This module
replays the layer graph node by node, swapping those calls for single-input
equivalents (``QuantizableMultiHeadAttention([q, v])``, ``Add()([x, y])``) with
the same weights and outputs. Everything else is replayed unchanged.
"""

import tensorflow as tf

from tfbig._backend import keras
from tfbig.quantize.attention import QuantizableMultiHeadAttention

# TFOpLambda symbols of element-wise binary ops -> the Keras merge layer.
_MERGE_FOR_SYMBOL = {
    "__operators__.add": keras.layers.Add,
    "math.add": keras.layers.Add,
    "math.multiply": keras.layers.Multiply,
    "math.subtract": keras.layers.Subtract,
}


def _is_keras_tensor(obj):
    return keras.backend.is_keras_tensor(obj)


def _binary_operands(node):
    """The two tensor operands of an element-wise TFOpLambda call, or None."""
    args = list(node.call_args)
    kwargs = dict(node.call_kwargs)
    kwargs.pop("name", None)
    operands = args + [kwargs.pop(k) for k in ("y",) if k in kwargs]
    if kwargs or len(operands) != 2 or not all(_is_keras_tensor(t) for t in operands):
        return None
    if operands[0].shape != operands[1].shape:
        return None
    return operands


def _attention_operands(node):
    """``[query, value(, key)]`` of a plain MultiHeadAttention call, or None."""
    names = ("query", "value", "key", "attention_mask", "return_attention_scores")
    bound = dict(zip(names, node.call_args))
    bound.update(node.call_kwargs)
    bound.pop("training", None)
    if bound.pop("attention_mask", None) is not None or bound.pop(
        "return_attention_scores", False
    ):
        return None, False
    causal = bool(bound.pop("use_causal_mask", False))
    query, value, key = bound.pop("query"), bound.pop("value"), bound.pop("key", None)
    if bound:
        return None, False
    if key is None and value is query:
        return query, causal
    return [query, value] + ([key] if key is not None else []), causal


def _replacement(layer, node):
    """(new layer, call input) for a node to rewrite, or None to replay as is."""
    if type(layer) is keras.layers.MultiHeadAttention:
        inputs, causal = _attention_operands(node)
        if inputs is None:
            return None
        config = layer.get_config()
        config["use_causal_mask"] = causal
        return QuantizableMultiHeadAttention.from_config(config), inputs
    if type(layer).__name__ == "TFOpLambda" and layer.symbol in _MERGE_FOR_SYMBOL:
        operands = _binary_operands(node)
        if operands is None:
            return None
        return _MERGE_FOR_SYMBOL[layer.symbol](name=layer.name), operands
    return None


def make_wrappable(model):
    """Returns ``(new_model, rewritten)``: a functional copy whose MHA and ``+``
    calls take a single input; ``rewritten`` maps layer name -> new class name.

    ``model`` must be functional; its layers are shared with the new model (the
    caller clones first). Weights of swapped layers are copied.
    """
    tensor_map = {id(t): t for t in model.inputs}
    swapped, rewritten = {}, {}
    depths = sorted(model._nodes_by_depth.keys(), reverse=True)
    for depth in depths:
        for node in model._nodes_by_depth[depth]:
            if node.is_input:
                continue
            layer = node.layer
            new = _replacement(layer, node)
            if new is not None:
                new_layer = swapped.setdefault(layer.name, new[0])
                call_input = tf.nest.map_structure(lambda t: tensor_map[id(t)], new[1])
                outputs = new_layer(call_input)
                if layer.name not in rewritten and layer.weights:
                    new_layer.set_weights(layer.get_weights())
                rewritten[layer.name] = type(new_layer).__name__
            else:
                args, kwargs = _map_call(node, tensor_map)
                outputs = layer(*args, **kwargs)
            for old, out in zip(tf.nest.flatten(node.outputs), tf.nest.flatten(outputs)):
                tensor_map[id(old)] = out
    outputs = tf.nest.map_structure(lambda t: tensor_map[id(t)], model.outputs)
    if not rewritten:
        return model, rewritten
    return keras.Model(model.inputs, outputs, name=model.name), rewritten


def _map_call(node, tensor_map):
    def convert(t):
        return tensor_map[id(t)] if _is_keras_tensor(t) else t

    args = tf.nest.map_structure(convert, node.call_args)
    kwargs = tf.nest.map_structure(convert, node.call_kwargs)
    return args, kwargs
