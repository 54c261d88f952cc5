"""Walks a tf_keras model down to the layers that hold real parameters.

Wrappers (tfmot's ``PruneLowMagnitude`` and ``QuantizeWrapper``, or any
``keras.layers.Wrapper``) are unwrapped to the layer they wrap: their own
bookkeeping variables (masks, thresholds, steps, quantizer ranges) are not
model parameters. Nested models are walked recursively.
"""

from tfbig._backend import keras
from tfbig._backend import is_graph_network

# Layers that only hold bookkeeping variables (no model parameters).
_BOOKKEEPING_LAYERS = frozenset({"QuantizeLayer"})
# Variables that wrappers add (pruning masks and steps, quantizer state).
_BOOKKEEPING_WEIGHTS = frozenset({"mask", "threshold", "pruning_step", "optimizer_step"})


def base_name(variable):
    """``"dense/kernel:0"`` -> ``"kernel"``."""
    return variable.name.split("/")[-1].split(":")[0]


def unwrap(layer):
    """The innermost layer of a chain of wrappers (``layer`` itself if none)."""
    while isinstance(layer, keras.layers.Wrapper) or (
        type(layer).__name__ in ("PruneLowMagnitude", "QuantizeWrapper", "QuantizeWrapperV2")
        and isinstance(getattr(layer, "layer", None), keras.layers.Layer)
    ):
        layer = layer.layer
    return layer


def leaf_layers(model, prefix=""):
    """Yields ``(qualified_name, inner, outer)`` for every non-model layer.

    ``inner`` is the unwrapped layer, ``outer`` the layer as the model holds it.

    Layers are named as the layer they wrap (``"dense"``, not
    ``"prune_low_magnitude_dense"``) so stages of a compression run line up;
    nested models contribute their layers as ``"submodel/layer"``.
    """
    for layer in model.layers:
        inner = unwrap(layer)
        if isinstance(inner, keras.Model):
            yield from leaf_layers(inner, prefix=f"{prefix}{inner.name}/")
        else:
            yield f"{prefix}{inner.name}", inner, layer


def parameter_weights(layer):
    """The variables of a (possibly wrapped) leaf layer that count as parameters.

    A wrapper holds the wrapped layer's variables (tfmot's quantize wrapper
    even takes the kernel over) plus its own bookkeeping, which is left out.
    """
    if type(unwrap(layer)).__name__ in _BOOKKEEPING_LAYERS:
        return []
    if unwrap(layer) is layer:
        return list(layer.weights)
    return [
        w
        for w in layer.weights
        if base_name(w) not in _BOOKKEEPING_WEIGHTS
        and not base_name(w).endswith(("_min", "_max"))
    ]


def layer_calls(model, prefix=""):
    """Yields ``(qualified_name, layer, input_shapes, output_shapes)`` per call.

    One entry per time a layer is called inside ``model``'s graph (a shared
    layer called twice appears twice). Wrappers are unwrapped; nested models
    are walked through their own graph. Shapes have ``None`` batch dimensions.
    """
    node_keys = getattr(model, "_network_nodes", None)
    for layer in model.layers:
        inner = unwrap(layer)
        if isinstance(inner, keras.Model):
            if not is_graph_network(inner):
                raise TypeError(
                    f"Nested model {layer.name!r} is subclassed, so its layer graph "
                    "cannot be read; pass a Sequential or functional model. "
                    f"Received: layer={layer.name!r}"
                )
            yield from layer_calls(inner, prefix=f"{prefix}{inner.name}/")
            continue
        for index, node in enumerate(layer._inbound_nodes):
            if node_keys is not None and f"{layer.name}_ib-{index}" not in node_keys:
                continue
            if node.is_input:
                continue
            yield f"{prefix}{inner.name}", inner, node.input_shapes, node.output_shapes
