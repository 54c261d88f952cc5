"""Whole-layer removal where it is safe: residual branches ``x + f(x)``.

A branch is the set of layers that compute one input of a merge layer
(``Add``, ``Average`` is not safe, so only ``Add``) from a *fork* tensor that
is itself another input of the same ``Add``, every one of those layers being
used only inside the branch. Dropping it turns ``x + f(x)`` into ``x``: exact
when ``f(x)`` is zero, and the usual depth pruning otherwise.
"""

import collections

import numpy as np
import tensorflow as tf

from tfbig._backend import keras

Branch = collections.namedtuple("Branch", ["add", "layers", "score"])

_MAX_BRANCH_LAYERS = 64


def _key(tensor):
    layer, node_index, tensor_index = tensor._keras_history
    return (layer.name, node_index, tensor_index)


def _consumers(model):
    out = collections.defaultdict(list)
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            if not node.is_input:
                for t in node.keras_inputs:
                    out[_key(t)].append(node)
    return out


def _walk_back(start, forks, consumers, add_node):
    """Layer names between ``forks`` and ``start``, or ``None`` if not a branch."""
    region, stack = {}, [start]
    while stack:
        t = stack.pop()
        if _key(t) in forks:
            continue
        layer, node_index, _ = t._keras_history
        node = layer._inbound_nodes[node_index]
        if node.is_input or len(layer._inbound_nodes) > 1 or len(region) > _MAX_BRANCH_LAYERS:
            return None
        if layer.name not in region:
            region[layer.name] = node
            stack.extend(node.keras_inputs)
    for name, node in region.items():
        outs = node.outputs if isinstance(node.outputs, (list, tuple)) else [node.outputs]
        for t in outs:
            for user in consumers.get(_key(t), ()):
                if user is not add_node and user.layer.name not in region:
                    return None
    return list(region)


def _output_scale(layer):
    """Mean |gamma| of a BatchNorm, else mean |kernel| (the branch's last word)."""
    if isinstance(layer, keras.layers.BatchNormalization) and layer.gamma is not None:
        return float(np.mean(np.abs(layer.gamma.numpy())))
    weights = [w for w in layer.trainable_weights if len(w.shape) > 1] or layer.trainable_weights
    return float(np.mean(np.abs(weights[0].numpy()))) if weights else 1.0


def find_branches(model):
    """All removable residual branches of ``model``, each a ``Branch``."""
    consumers = _consumers(model)
    outputs = {_key(t) for t in model.outputs}
    found = []
    for layer in model.layers:
        if type(layer) is not keras.layers.Add or len(layer._inbound_nodes) != 1:
            continue
        node = layer._inbound_nodes[0]
        inputs = node.keras_inputs
        for i, t in enumerate(inputs):
            forks = {_key(u) for j, u in enumerate(inputs) if j != i}
            if _key(t) in forks or _key(t) in outputs:
                continue
            names = _walk_back(t, forks, consumers, node)
            if names:
                weighted = [model.get_layer(n) for n in names if model.get_layer(n).weights]
                score = _output_scale(weighted[0]) if weighted else 0.0
                found.append(Branch(layer.name, tuple(reversed(names)), score))
    return found


def select_branches(branches, ratio):
    """The ``floor(ratio * len(branches))`` branches with the lowest scores."""
    count = int(np.floor(ratio * len(branches) + 1e-9))
    ranked = sorted(branches, key=lambda b: (b.score, b.add))
    return ranked[:count]


def _map_tensors(structure, tensors):
    return tf.nest.map_structure(
        lambda v: tensors[_key(v)] if hasattr(v, "_keras_history") else v, structure)


def rebuild_without(model, make_layer, dropped):
    """Re-traces ``model`` with ``make_layer(layer)`` layers, skipping ``dropped``.

    An ``Add`` that loses inputs adds the rest, or passes its single remaining
    input on unchanged.
    """
    tensors, layers = {}, {}
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            layer = node.layer
            outs = node.outputs if isinstance(node.outputs, (list, tuple)) else [node.outputs]
            if node.is_input:
                config = layer.get_config()
                new = keras.Input(batch_shape=config["batch_input_shape"], dtype=config["dtype"],
                                  sparse=config.get("sparse", False), name=config["name"])
                tensors[_key(outs[0])] = new
                continue
            if layer.name in dropped:
                continue
            if isinstance(layer, keras.layers.Add):
                kept = [tensors[_key(t)] for t in node.keras_inputs if _key(t) in tensors]
                if len(kept) < len(node.keras_inputs):
                    result = kept[0] if len(kept) == 1 else _new(layers, layer, make_layer)(kept)
                    tensors[_key(outs[0])] = result
                    continue
            args = _map_tensors(node.call_args, tensors)
            kwargs = _map_tensors(node.call_kwargs, tensors)
            result = _new(layers, layer, make_layer)(*args, **kwargs)
            for t, r in zip(outs, tf.nest.flatten(result)):
                tensors[_key(t)] = r
    def pick(t):
        return tensors[_key(t)]

    return keras.Model(tf.nest.map_structure(pick, model._nested_inputs),
                       tf.nest.map_structure(pick, model._nested_outputs), name=model.name)


def _new(layers, layer, make_layer):
    if layer.name not in layers:
        layers[layer.name] = make_layer(layer)
    return layers[layer.name]
