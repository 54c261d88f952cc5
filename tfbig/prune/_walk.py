"""Finds the pruning wrappers of a model, with readable paths.

Paths use the wrapped layer's own name (``"conv1"``, not
``"prune_low_magnitude_conv1"``) and ``"outer/inner"`` inside nested models,
subclassed models and composite layers: the names the user gave.
"""

from tfbig._backend import is_graph_network
from tfbig._backend import keras
from tfbig.prune._clone import TfmotWrapper
from tfbig.prune._composite import PrunedComposite
from tfbig.prune._clone import child_layers


def _children(layer):
    if isinstance(layer, keras.Model) and is_graph_network(layer):
        return list(layer.layers)
    return [child for _, _, child in child_layers(layer)]


def wrappers(model, prefix=""):
    """``[(path, wrapper)]`` for every pruning wrapper (tfbig's or tfmot's) in ``model``."""
    found, seen = [], set()
    model = getattr(model, "_prune_inner", None) or model  # PrunedSubclassedModel

    def visit(layer, prefix):
        for child in _children(layer):
            if id(child) in seen:
                continue
            seen.add(id(child))
            if isinstance(child, PrunedComposite):
                child = child.layer
            if isinstance(child, TfmotWrapper):
                found.append((prefix + child.layer.name, child))
            else:
                visit(child, f"{prefix}{child.name}/")

    visit(model, prefix)
    return found


def leaves(model, prefix=""):
    """``[(path, layer)]`` for the leaf layers of a plain model (no wrappers)."""
    found = []
    for child in _children(model):
        if isinstance(child, PrunedComposite):
            child = child.layer
        if isinstance(child, keras.Model) or (
            _children(child) and not _is_leaf_with_weights(child)
        ):
            found.extend(leaves(child, f"{prefix}{child.name}/"))
        else:
            found.append((prefix + child.name, child))
    return found


def _is_leaf_with_weights(layer):
    from tfbig.prune._clone import is_prunable_leaf

    return is_prunable_leaf(layer)
