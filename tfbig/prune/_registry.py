"""Which weights of which layers can be pruned: tfmot's registry, plus more.

tfmot's ``PruneRegistry`` knows the built-in layers (Dense, Conv, Embedding,
MultiHeadAttention, RNNs...). tfbig adds layers it misses, by class, as
``class -> weight attribute names``; a layer gets a ``get_prunable_weights``
method, which is the hook tfmot's wrapper accepts for custom layers.
"""

from tensorflow_model_optimization.python.core.sparsity.keras import prunable_layer
from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry

from tfbig._backend import keras

_EXTRA_WEIGHTS = {
    keras.layers.EinsumDense: ("kernel",),
}


def _extra_weight_names(layer):
    return _EXTRA_WEIGHTS.get(type(layer))


def is_supported(layer):
    """Whether a wrapper can be put on ``layer`` (it may still have no prunable weight)."""
    return (
        isinstance(layer, prunable_layer.PrunableLayer)
        or hasattr(layer, "get_prunable_weights")
        or prune_registry.PruneRegistry.supports(layer)
        or _extra_weight_names(layer) is not None
    )


def prunable_weight_names(layer):
    """Names of the weights pruning would target, without building the layer.

    Returns ``None`` for a layer tfmot decides at build time (custom
    ``PrunableLayer`` or RNN), an empty tuple for weightless layers.
    """
    names = _extra_weight_names(layer)
    if names is not None:
        return names
    if isinstance(layer, prunable_layer.PrunableLayer) or hasattr(layer, "get_prunable_weights"):
        return None
    registry = prune_registry.PruneRegistry
    if type(layer) in registry._LAYERS_WEIGHTS_MAP:  # pylint: disable=protected-access
        return tuple(registry._LAYERS_WEIGHTS_MAP[type(layer)])  # pylint: disable=protected-access
    if registry.supports(layer):
        return None
    return ()


def make_prunable(layer):
    """Gives a layer of ``_EXTRA_WEIGHTS`` a ``get_prunable_weights`` method."""
    names = _extra_weight_names(layer)
    if names is not None and not hasattr(layer, "get_prunable_weights"):
        layer.get_prunable_weights = lambda: [getattr(layer, n) for n in names]
    return layer
