"""``tfbig.prune.strip``: a plain model with the zeros kept, for export."""

from tfbig._backend import check_model
from tfbig._backend import is_graph_network
from tfbig._backend import keras
from tfbig.prune import _clone
from tfbig.prune import _walk
from tfbig.prune._composite import PrunedComposite
from tfbig.prune._composite import set_child
from tfbig.prune.models import PrunedSubclassedModel

__all__ = ["strip"]


class _Unwrapper(_clone.Cloner):
    """A cloner that replaces every pruning wrapper by a fresh copy of its layer."""

    def __init__(self):
        super().__init__(wrap=lambda layer, path: None)

    def clone(self, layer, path=""):
        if isinstance(layer, PrunedComposite):
            layer = layer.layer
        if isinstance(layer, _clone.TfmotWrapper):
            return _clone.fresh_copy(layer.layer)
        if isinstance(layer, keras.Model) and is_graph_network(layer):
            return keras.models.clone_model(layer, clone_function=self.clone)
        if _clone.child_layers(layer):
            fresh = _clone.fresh_copy(layer)
            self._unwrap_children(layer, fresh)
            return fresh
        return _clone.fresh_copy(layer)

    def _unwrap_children(self, original, fresh):
        copies = {(a, i): c for a, i, c in _clone.child_layers(fresh)}
        for attr, index, child in _clone.child_layers(original):
            copy = copies[(attr, index)]
            copy._name = child.name  # pylint: disable=protected-access
            if isinstance(child, _clone.TfmotWrapper):
                # The fresh parent re-created the plain layer; give it the inner name.
                copy._name = child.layer.name  # pylint: disable=protected-access
            elif isinstance(child, keras.Model) and is_graph_network(child):
                set_child(fresh, attr, index, self.clone(child))
            elif _clone.child_layers(child):
                self._unwrap_children(child, copy)


def strip(model):
    """Returns a plain copy of a pruned model: no wrappers, masks applied, zeros kept.

    The copy has the user's original structure and class (Sequential,
    functional, or the user's subclass) and needs nothing from tfbig or tfmot
    to load. The pruned model is not changed. Plain layers are copied as they are.

    Args:
        model: a model from :func:`tfbig.prune.magnitude`, or any tf_keras
            model holding tfmot pruning wrappers.

    Returns:
        A new tf_keras model with the same outputs as ``model``'s inference.

    Raises:
        TypeError: for a Keras 3 model or not a model.
        ValueError: if ``model`` has no pruning wrapper.

    Example:

    >>> from tfbig import keras
    >>> from tfbig.prune import magnitude
    >>> m = keras.Sequential([keras.layers.Dense(4, input_shape=(3,))])
    >>> plain = strip(magnitude(m, target_sparsity=0.5))
    >>> [type(layer).__name__ for layer in plain.layers]
    ['Dense']
    """
    check_model(model)
    if not _walk.wrappers(model):
        raise ValueError(
            f"Model {model.name!r} has no pruning wrapper, so there is nothing to strip; "
            "pass the model returned by `tfbig.prune.magnitude`. "
            f"Received: model={model.name!r}"
        )
    unwrapper = _Unwrapper()
    if isinstance(model, PrunedSubclassedModel):
        inner = model.inner
        plain = unwrapper.clone(inner)
        sample = _clone.sample_inputs(inner) or _clone.sample_inputs(model)
        args, kwargs = sample
        plain(*args, **kwargs)
        _clone.copy_weights(inner, plain, masked=True)
        return plain
    if isinstance(model, keras.Sequential):
        clone = unwrapper.clone(model)
        plain = keras.Sequential(clone.layers, name=model.name)
    elif is_graph_network(model):
        clone = unwrapper.clone(model)
        plain = keras.Model(clone.inputs, clone.outputs, name=model.name)
    else:
        plain = unwrapper.clone(model)
        args, kwargs = _clone.sample_inputs(model)
        plain(*args, **kwargs)
    _clone.copy_weights(model, plain, masked=True)
    return plain
