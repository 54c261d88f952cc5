"""Clone a model with pruning wrappers, leaving the user's model untouched.

tfmot's ``prune_low_magnitude(model)`` wraps the *original* layer objects, so
the user's model and the pruned one share variables and the masks zero the
user's weights too. Here every layer is re-created from its config and the
weights are copied afterwards, so the original never changes.

Two mechanisms, one result:

- graph networks (Sequential, functional, nested): ``clone_model`` with a
  clone function that wraps the selected layers, recursing into nested models;
- subclassed models and composite layers (a layer made of sublayers, as a
  hand-written transformer block): re-created from ``get_config``, then each
  selected sublayer attribute is replaced by its wrapper.
"""

import dataclasses

import numpy as np
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tfbig._backend import is_graph_network
from tfbig._backend import keras
from tfbig.prune import _registry
from tfbig.prune._composite import set_child

TfmotWrapper = pruning_wrapper.PruneLowMagnitude


@dataclasses.dataclass
class Plan:
    """What cloning did: pruned layer paths, and layers left as they are (with why)."""

    pruned: list = dataclasses.field(default_factory=list)
    left: dict = dataclasses.field(default_factory=dict)
    seen: list = dataclasses.field(default_factory=list)


def fresh_copy(layer):
    """A new, unbuilt layer of the same class and config (no shared variables)."""
    try:
        config = layer.get_config()
    except NotImplementedError as error:
        raise TypeError(
            f"Layer {layer.name!r} ({type(layer).__name__}) cannot be copied: it has no "
            "`get_config`. tfbig never modifies your model, so it re-creates each layer "
            "from its config; implement `get_config` returning the `__init__` "
            f"arguments. Received: layer={layer.name!r}"
        ) from error
    copy = type(layer).from_config(config)
    copy._name = layer.name  # pylint: disable=protected-access
    return copy


def child_layers(layer):
    """``(attribute, index, child)`` for sublayers held in attributes or lists."""
    children = []
    for attr, value in list(vars(layer).items()):
        if attr.startswith("_self_") or attr in ("_layers", "_layer_call_argspecs"):
            continue
        if isinstance(value, keras.layers.Layer) and value is not layer:
            children.append((attr, None, value))
        elif isinstance(value, (list, tuple)) or type(value).__name__ == "ListWrapper":
            items = list(value)
            if items and all(isinstance(v, keras.layers.Layer) for v in items):
                children.extend((attr, i, v) for i, v in enumerate(items))
    return children


def paired_children(first, second):
    """``(child of first, child of second)`` held under the same attribute and index.

    Paired by key, not position: replacing an attribute moves it to the end.
    """
    by_key = {(attr, index): child for attr, index, child in child_layers(second)}
    return [(child, by_key[(attr, index)]) for attr, index, child in child_layers(first)
            if (attr, index) in by_key]


def materialize(fresh, original):
    """Creates the weights of a copy whose sublayers are built only when called.

    ``MultiHeadAttention`` makes its projection kernels on its first call; the
    pruning wrapper needs them at build time, so the copy is called once on
    zeros of the original's input shapes.
    """
    if not isinstance(fresh, keras.layers.MultiHeadAttention) or fresh.weights:
        return
    if getattr(fresh, "_query_dense", None) is not None and fresh._query_dense.weights:  # pylint: disable=protected-access
        return
    shapes = [original._query_shape, original._value_shape, original._key_shape]  # pylint: disable=protected-access
    if any(shape is None for shape in shapes):
        return
    query, value, key = (np.zeros([1] + list(shape)[1:], "float32") for shape in shapes)
    fresh(query, value, key=key)


def is_prunable_leaf(layer):
    """A layer tfmot's wrapper accepts and that has (or may have) prunable weights."""
    if not _registry.is_supported(layer):
        return False
    names = _registry.prunable_weight_names(layer)
    return names is None or len(names) > 0


class Cloner:
    """Builds the pruned clone; ``wrap(layer, path)`` returns a wrapper or ``None``."""

    def __init__(self, wrap):
        self.wrap = wrap
        self.plan = Plan()

    def _leaf(self, layer, path):
        fresh = fresh_copy(layer)
        if is_prunable_leaf(layer):
            materialize(fresh, layer)
            wrapper = self.wrap(fresh, path)
            if wrapper is not None:
                self.plan.pruned.append(path)
                return wrapper
            self.plan.left[path] = "not selected"
        elif layer.weights:
            self.plan.left[path] = f"{type(layer).__name__} is not prunable"
        elif type(layer).__name__ in ("TFOpLambda", "SlicingOpLambda", "Lambda"):
            self.plan.left[path] = "raw TensorFlow op (no weights)"
        return fresh

    def clone(self, layer, path=""):
        """Returns the pruned copy of ``layer`` (a model or a layer)."""
        if path:
            self.plan.seen.append(path)
        if isinstance(layer, TfmotWrapper):
            raise ValueError(
                f"Layer {path!r} is already a pruning wrapper. Prune the original model, "
                "or `tfbig.prune.strip` this one first. "
                f"Received: layer={path!r}"
            )
        if isinstance(layer, keras.Model) and is_graph_network(layer):
            prefix = f"{path}/" if path else ""
            return keras.models.clone_model(
                layer, clone_function=lambda child: self.clone(child, prefix + child.name)
            )
        if not is_prunable_leaf(layer) and child_layers(layer):
            return self._composite(layer, path)
        return self._leaf(layer, path)

    def _composite(self, layer, path):
        from tfbig.prune._composite import PrunedComposite

        fresh = fresh_copy(layer)
        replaced = []
        self._rewire(layer, fresh, path, (), replaced)
        return PrunedComposite(fresh, replaced=replaced) if replaced else fresh

    def _rewire(self, original, fresh, path, steps, replaced):
        originals = child_layers(original)
        copies = child_layers(fresh)
        copies = {(a, i): c for a, i, c in copies}
        if sorted(k[:2] for k in originals) != sorted(copies):
            raise TypeError(
                f"{type(original).__name__} {path or original.name!r} re-created from its "
                "config has different sublayers than the original, so its weights cannot "
                "be carried over; make `get_config` return every `__init__` argument. "
                f"Received: layer={original.name!r}"
            )
        for attr, index, child in originals:
            copy = copies[(attr, index)]
            child_path = f"{path}/{child.name}" if path else child.name
            copy._name = child.name  # pylint: disable=protected-access
            self.plan.seen.append(child_path)
            child_steps = steps + ((attr, index),)
            if isinstance(child, keras.Model) and is_graph_network(child):
                set_child(fresh, attr, index, self.clone(child, child_path))
                replaced.append(child_steps)
            elif not is_prunable_leaf(child) and child_layers(child):
                self._rewire(child, copy, child_path, child_steps, replaced)
            elif is_prunable_leaf(child):
                materialize(copy, child)
                wrapper = self.wrap(copy, child_path)
                if wrapper is not None:
                    self.plan.pruned.append(child_path)
                    set_child(fresh, attr, index, wrapper)
                    replaced.append(child_steps)
                else:
                    self.plan.left[child_path] = "not selected"
            elif child.weights:
                self.plan.left[child_path] = f"{type(child).__name__} is not prunable"


def unwrapped(layer):
    """The layer inside a pruning wrapper or a ``PrunedComposite`` (else itself)."""
    from tfbig.prune._composite import PrunedComposite

    return layer.layer if isinstance(layer, (TfmotWrapper, PrunedComposite)) else layer


def pair_layers(source, target):
    """Yields ``(source_leaf, target_leaf)`` pairs (wrappers looked through) to copy."""
    from tfbig.prune._composite import PrunedComposite

    target = unwrapped(target)
    if isinstance(source, PrunedComposite):
        source = source.layer
    if isinstance(source, TfmotWrapper):
        yield source, target
        return
    if isinstance(source, keras.Model) and is_graph_network(source):
        by_name = {unwrapped(t).name: t for t in target.layers}
        for child in source.layers:
            if unwrapped(child).name in by_name:
                yield from pair_layers(child, by_name[unwrapped(child).name])
        return
    if not is_prunable_leaf(source) and child_layers(source):
        for (a, b) in paired_children(source, target):
            yield from pair_layers(a, b)
        own_s = source._trainable_weights + source._non_trainable_weights  # pylint: disable=protected-access
        own_t = target._trainable_weights + target._non_trainable_weights  # pylint: disable=protected-access
        if own_s:
            yield _OwnWeights(own_s), _OwnWeights(own_t)
        return
    yield source, target


class _OwnWeights:
    """The weights a composite layer creates itself (not through sublayers)."""

    def __init__(self, weights):
        self.weights = weights

    def get_weights(self):
        return keras.backend.batch_get_value(self.weights)

    def set_weights(self, values):
        keras.backend.batch_set_value(list(zip(self.weights, values)))


def copy_weights(source, target, masked=False):
    """Copies every leaf's weights from ``source`` to ``target`` (paired by name/attribute).

    With ``masked=True`` a wrapper in ``source`` gives ``weight * mask``.
    """
    for src, dst in pair_layers(source, target):
        if isinstance(src, TfmotWrapper):
            values = _masked_layer_weights(src) if masked else src.layer.get_weights()
        else:
            values = src.get_weights()
        dst.set_weights(values)


def _masked_layer_weights(wrapper):
    masks = {id(w): keras.backend.get_value(m) for w, m, _ in wrapper.pruning_vars}
    values = []
    for weight in wrapper.layer.weights:
        value = keras.backend.get_value(weight)
        var_id = id(getattr(weight, "_variable", weight))
        mask = masks.get(id(weight), masks.get(var_id))
        values.append(value * mask.astype(value.dtype) if mask is not None else value)
    return values


def sample_inputs(model):
    """Zero inputs matching a built subclassed model's first call, or ``None``."""
    spec = model.save_spec(dynamic_batch=True) if hasattr(model, "save_spec") else None
    if not spec:
        return None
    args, kwargs = spec

    def zeros(s):
        shape = [1 if d is None else d for d in s.shape.as_list()]
        return np.zeros(shape, s.dtype.as_numpy_dtype)

    import tensorflow as tf

    args = tf.nest.map_structure(zeros, args)
    kwargs = tf.nest.map_structure(zeros, kwargs)
    return args, kwargs
