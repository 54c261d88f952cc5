"""The surgeon contract and the registry that maps layer classes to surgeons.

A *surgeon* knows three things about one layer class (the Torch-Pruning idea,
in Keras terms):

1. ``propagate(ctx)``: how channels flow through the layer. Each tensor of the
   model carries a *channel map*: one integer per channel of its last axis, the
   id of the *atom* (a channel created by some layer) it holds, or ``-1`` for a
   channel that can never be removed (model inputs). A layer that creates
   channels (Dense, Conv) asks ``ctx.new_atoms``; a layer that passes them on
   returns its input map; a layer that needs two inputs to line up (``Add``)
   calls ``ctx.union``; a layer that cannot lose a channel calls ``ctx.pin``.
2. ``slices(layer, state)``: which axis of which weight belongs to which
   channel (``"out"``, ``"in"`` or ``("in", i)``, ``"head"``). They drive the
   importance scores, the zeroing used by gradual pruning, and the default
   weight surgery.
3. ``config(layer, cut)`` and ``weights(layer, cut)``: the smaller layer's
   config and its kept weights, given the boolean keep masks in ``cut``.
"""

import collections

import numpy as np

from tfbig._backend import check_layer
from tfbig._backend import keras

__all__ = ["Surgeon", "Cut", "Slice", "register_surgeon", "get_surgeon", "registered_layers"]

Slice = collections.namedtuple("Slice", ["target", "variable", "axis", "kind"])
Slice.__new__.__defaults__ = ("weight",)
Slice.__doc__ = """One axis of one weight that is indexed by channels.

Fields: ``target`` (``"out"``: channels of the first output; ``"in"`` or
``("in", i)``: channels of input ``i``; ``"head"``: the layer's own units such
as attention heads), ``variable`` (a weight of the layer), ``axis`` and
``kind`` (``"weight"``, or ``"scale"`` for a BatchNormalization gamma).
"""


class Cut:
    """The boolean keep masks of one layer (``True`` = the channel stays).

    Attributes:
        inputs: one mask per input tensor, in the node's input order.
        outputs: one mask per output tensor.
        heads: mask over the layer's own units (attention heads), or ``None``.
        state: what the surgeon stored while propagating (e.g. input roles).
    """

    def __init__(self, inputs, outputs, heads=None, state=None):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.heads = heads
        self.state = dict(state or {})

    def mask(self, target):
        """The keep mask of ``target`` (``"out"``, ``"in"``, ``("in", i)``, ``"head"``)."""
        if target == "out":
            return self.outputs[0]
        if target == "head":
            return self.heads
        if target == "in":
            return self.inputs[0]
        return self.inputs[target[1]]

    @property
    def changed(self):
        """Whether any channel or head of this layer is removed."""
        masks = self.inputs + self.outputs + ([self.heads] if self.heads is not None else [])
        return any(not bool(np.all(m)) for m in masks)


class Surgeon:
    """Base class of the per-layer rules; subclass it for a custom layer.

    The default methods describe a layer that keeps every channel where it is
    and owns no channel-indexed weights (an activation, say). Override
    ``propagate`` for layers that create or couple channels, ``slices`` for
    layers with channel-indexed weights, and ``config`` when the layer's
    config names a channel count.

    Example:

    >>> class Scale(keras.layers.Layer):  # a custom per-channel scale
    ...     def build(self, shape):
    ...         self.w = self.add_weight("w", shape=(shape[-1],))
    ...     def call(self, x):
    ...         return x * self.w
    >>> class ScaleSurgeon(Surgeon):
    ...     def slices(self, layer, state):
    ...         return [Slice("in", layer.w, 0)]
    >>> _ = register_surgeon(Scale, ScaleSurgeon())
    >>> isinstance(get_surgeon(Scale()), ScaleSurgeon)
    True
    """

    def propagate(self, ctx):
        """Returns the output channel maps; by default, the first input's map."""
        return [ctx.inputs[0] for _ in ctx.output_shapes]

    def slices(self, layer, state):
        """Returns the channel-indexed weight axes as a list of ``Slice``."""
        return []

    def config(self, layer, cut):
        """Returns the config of the smaller layer; by default, unchanged."""
        return layer.get_config()

    def weights(self, layer, cut):
        """Returns the kept weights in ``layer.get_weights()`` order."""
        by_var = collections.defaultdict(list)
        for s in self.slices(layer, cut.state):
            by_var[id(s.variable)].append(s)
        new = []
        for var, value in zip(layer.weights, layer.get_weights()):
            for s in by_var.get(id(var), ()):
                value = np.take(value, np.flatnonzero(cut.mask(s.target)), axis=s.axis)
            new.append(value)
        return new


_REGISTRY = {}


def register_surgeon(layer_class, surgeon):
    """Registers the surgeon that prunes every layer of ``layer_class``.

    The lookup is by exact class, so a subclass of ``Dense`` that changes what
    the layer computes is never pruned by the ``Dense`` rules by accident.

    Args:
        layer_class: a tf_keras ``Layer`` subclass.
        surgeon: a ``Surgeon`` instance.

    Returns:
        ``surgeon``.

    Raises:
        TypeError: if ``layer_class`` is not a tf_keras layer class or
            ``surgeon`` is not a ``Surgeon``.

    Example:

    >>> register_surgeon(keras.layers.Dense, get_surgeon(keras.layers.Dense(1)))
    ... # doctest: +ELLIPSIS
    <...DenseSurgeon object at ...>
    """
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        check_layer(layer_class, "layer_class")  # a Keras 3 class gets the standard error
        raise TypeError(
            "`layer_class` must be a tf_keras Layer subclass (the class, not an "
            f"instance). Received: layer_class={layer_class!r}"
        )
    if not isinstance(surgeon, Surgeon):
        raise TypeError(
            "`surgeon` must be an instance of tfbig.prune.structured.Surgeon. "
            f"Received: surgeon={surgeon!r}"
        )
    _REGISTRY[layer_class] = surgeon
    return surgeon


def get_surgeon(layer):
    """Returns the registered ``Surgeon`` of ``layer``'s class, or ``None``.

    Example:

    >>> get_surgeon(keras.layers.Lambda(lambda x: x)) is None
    True
    """
    from tfbig.prune.structured import _surgeons  # noqa: F401  (registers built-ins)

    return _REGISTRY.get(type(layer))


def registered_layers():
    """Names of the layer classes that have a surgeon, sorted.

    Example:

    >>> "Conv2D" in registered_layers()
    True
    """
    from tfbig.prune.structured import _surgeons  # noqa: F401

    return sorted(cls.__name__ for cls in _REGISTRY)
