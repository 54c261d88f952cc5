"""The channel dependency graph of a Sequential or functional tf_keras model.

Every channel a layer creates is an *atom*; every tensor carries the atom of
each of its last-axis channels (``-1``: can never go). Coupling layers join
atoms with a union-find, so each resulting *component* is one channel that
must be removed everywhere at once (for instance channel 7 of every block of
a residual stage). Components created by the same set of layers form a
*group*, the unit that a pruning ratio applies to.
"""

import collections
import inspect

import numpy as np

from tfbig._backend import check_model
from tfbig._backend import is_graph_network
from tfbig.prune.structured._registry import get_surgeon

Source = collections.namedtuple("Source", ["layer", "tag", "start", "size"])


def _shape(tensor):
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _key(tensor):
    layer, node_index, tensor_index = tensor._keras_history
    return (layer.name, node_index, tensor_index)


class _Context:
    """What a surgeon's ``propagate`` sees: one call (node) of one layer."""

    def __init__(self, graph, layer, node, inputs, input_shapes, output_shapes, state):
        self.graph = graph
        self.layer = layer
        self.node = node
        self.inputs = inputs
        self.input_shapes = input_shapes
        self.output_shapes = output_shapes
        self.state = state

    def new_atoms(self, n, tag="out"):
        """``n`` new channels owned by this layer (the same on every call)."""
        return self.graph.new_atoms(self.layer, int(n), tag)

    def union(self, a, b):
        """Couples two channel maps of equal length, channel by channel."""
        self.graph.union(a, b)

    def pin(self, atoms, reason):
        """Marks channels that must stay, with the reason shown in the plan."""
        self.graph.pin(atoms, self.layer, reason)

    def fixed(self, n):
        """A map of ``n`` channels that can never be removed."""
        return np.full(int(n), -1, dtype=np.int64)

    def call_arguments(self):
        """Maps the layer's call argument names to indices into ``inputs``."""
        args = self.node.call_args
        kwargs = self.node.call_kwargs
        bound = inspect.signature(self.layer.call).bind_partial(*args, **kwargs).arguments
        ids = [id(t) for t in self.node.keras_inputs]
        return {name: ids.index(id(v)) for name, v in bound.items() if id(v) in ids}


class ChannelGraph:
    """Channel atoms, their coupling and pins, built from a model's layer graph.

    Args:
        model: a built Sequential or functional tf_keras model.
        on_unsupported: ``"raise"`` or ``"keep"`` for a layer without a surgeon
            that receives prunable channels.
        ignore: names of layers to leave intact.
    """

    def __init__(self, model, on_unsupported="raise", ignore=()):
        check_model(model)
        self.model = model
        self.on_unsupported = on_unsupported
        self.ignore = set(ignore)
        self.parent = []
        self.sources = []
        self.atom_source = []
        self.pins = {}
        self.maps = {}
        self.layers = collections.OrderedDict()
        self._owned = {}
        self._build()

    # -- atoms -------------------------------------------------------------
    def new_atoms(self, layer, n, tag):
        key = (layer.name, tag)
        if key in self._owned:
            return self._owned[key]
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        self.atom_source.extend([len(self.sources)] * n)
        self.sources.append(Source(layer.name, tag, start, n))
        self._owned[key] = np.arange(start, start + n, dtype=np.int64)
        return self._owned[key]

    def find(self, a):
        parent = self.parent
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(self, a, b):
        for x, y in zip(np.asarray(a).tolist(), np.asarray(b).tolist()):
            if x < 0 or y < 0:
                self.pin([x, y], None, "coupled with a channel that cannot be removed")
                continue
            rx, ry = self.find(x), self.find(y)
            if rx != ry:
                self.parent[max(rx, ry)] = min(rx, ry)

    def pin(self, atoms, layer, reason):
        name = layer.name if layer is not None else None
        for a in np.asarray(atoms).tolist():
            if a >= 0 and a not in self.pins:
                self.pins[a] = (name, reason)

    # -- building ------------------------------------------------------------
    def _build(self):
        model = self.model
        if not is_graph_network(model) or not getattr(model, "_nodes_by_depth", None):
            raise TypeError(
                f"Structured pruning needs a built Sequential or functional model; "
                f"{model.name!r} ({type(model).__name__}) is subclassed or not built, "
                "so its layer graph (which layers feed which) cannot be read. Rebuild "
                "it with the functional API (`keras.Model(inputs, outputs)`) or give "
                "the Sequential an `Input`, then prune that model. "
                f"Received: model={model.name!r}"
            )
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                self._visit(node)
        for t in model.outputs:
            self.pin(self.maps[_key(t)], t._keras_history.layer, "it feeds the model output")

    def _visit(self, node):
        layer = node.layer
        outputs = node.outputs if isinstance(node.outputs, (list, tuple)) else [node.outputs]
        outputs = [t for t in outputs if hasattr(t, "_keras_history")]
        out_shapes = [_shape(t) for t in outputs]
        if node.is_input:
            self._store(outputs, [np.full(s[-1] or 0, -1, dtype=np.int64) for s in out_shapes])
            return
        ins = [self.maps[_key(t)] for t in node.keras_inputs]
        in_shapes = [_shape(t) for t in node.keras_inputs]
        entry = self.layers.get(layer.name)
        state = entry["state"] if entry else {}
        ctx = _Context(self, layer, node, ins, in_shapes, out_shapes, state)
        surgeon = get_surgeon(layer)
        prunable_in = any(bool(np.any(m >= 0)) for m in ins)
        if layer.name in self.ignore:
            ctx.pin(np.concatenate(ins), "listed in `ignore`")
            outs = surgeon.propagate(ctx) if surgeon else [ctx.fixed(s[-1]) for s in out_shapes]
            for m in outs:
                ctx.pin(m, "listed in `ignore`")
        elif surgeon is None:
            if prunable_in:
                self._unsupported(layer, ins)
            outs = [ctx.fixed(s[-1] or 0) for s in out_shapes]
        else:
            outs = surgeon.propagate(ctx)
        if entry is None:
            self.layers[layer.name] = dict(layer=layer, surgeon=surgeon, inputs=ins,
                                           outputs=outs, state=state)
        else:  # a shared layer: every call must lose the same channels
            for a, b in zip(entry["inputs"] + entry["outputs"], ins + outs):
                self.union(a, b)
        self._store(outputs, outs)

    def _store(self, tensors, maps):
        for t, m in zip(tensors, maps):
            self.maps[_key(t)] = np.asarray(m, dtype=np.int64)

    def _unsupported(self, layer, ins):
        producers = sorted({self.sources[self.atom_source[a]].layer
                            for m in ins for a in m.tolist() if a >= 0})
        if self.on_unsupported == "raise":
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) receives prunable "
                f"channels from {producers} but structured pruning has no surgeon for "
                f"{type(layer).__name__}, so it cannot tell which of its weights belong "
                "to which channel. Register one with `tfbig.prune.structured."
                f"register_surgeon({type(layer).__name__}, MySurgeon())`, or pass "
                "`on_unsupported='keep'` to leave the channels that reach it intact. "
                f"Received: layer={layer.name!r}"
            )
        self.pin(np.concatenate(ins), layer,
                 f"unsupported layer {type(layer).__name__} (no surgeon registered)")

    # -- components -----------------------------------------------------------
    def components(self):
        """Returns ``(root_of_each_atom, pinned_roots)``: numpy array and dict."""
        roots = np.array([self.find(a) for a in range(len(self.parent))], dtype=np.int64)
        pinned = {}
        for a, why in self.pins.items():
            pinned.setdefault(int(roots[a]), why)
        return roots, pinned
