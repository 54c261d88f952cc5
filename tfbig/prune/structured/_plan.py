"""The dry run: which channels go, chosen by importance, and what that saves."""

import collections

import numpy as np
from absl import logging

from tfbig._backend import check_model
from tfbig.prune.structured import _blocks
from tfbig.prune.structured import _importance
from tfbig.prune.structured import _surgery
from tfbig.prune.structured._graph import ChannelGraph
from tfbig.prune.structured._registry import Cut
from tfbig.prune.structured._select import Selector

Group = collections.namedtuple("Group", ["layers", "kind", "size", "kept", "removed", "pinned"])
Group.__doc__ = """One set of coupled channels (or heads) that a ratio applies to.

Fields: ``layers`` (the layers that create these channels), ``kind``
(``"channels"`` or ``"heads"``), ``size`` (count before), ``kept`` (count
after), ``removed`` (indices removed, in the first layer's numbering) and
``pinned`` (``None`` or why the group cannot shrink).
"""


class StructuredPlan:
    """A dry run of structured pruning: what goes, what stays and why.

    Made by :func:`plan`. Nothing is changed until :meth:`apply`, which
    returns a new, smaller model (the planned model is never modified).

    Attributes:
        model: the planned model.
        groups: list of ``Group`` (coupled channels or heads and their fate).
        cuts: ``{layer name: Cut}`` keep masks of every layer.
        intact: ``[(layer name, reason)]`` layers whose channels could not be
            removed.
        blocks: the residual branches removed whole, as ``(add layer, layer
            names, score)`` tuples (see ``block_ratio``).

    Example:

    >>> from tfbig.models import mlp
    >>> p = plan(mlp(hidden=(16, 8)), ratio=0.5)
    >>> [(g.layers, g.size, g.kept) for g in p.groups if g.removed]
    [(('dense1',), 16, 8), (('dense2',), 8, 4)]
    >>> p.apply().count_params() < p.model.count_params()
    True
    """

    def __init__(self, model, graph, groups, cuts, intact, settings, blocks=()):
        self.model = model
        self.blocks = list(blocks)
        self.dropped = {name for b in self.blocks for name in b.layers}
        self.graph = graph
        self.groups = groups
        self.cuts = cuts
        self.intact = intact
        self.settings = settings
        self._skeleton = None

    def _pruned_skeleton(self):
        if self._skeleton is None:
            self._skeleton = _surgery.rebuild(self.model, self.graph.layers, self.cuts, False,
                                              self.dropped)
        return self._skeleton

    @property
    def params_before(self):
        """Parameter count of the planned model."""
        return int(self.model.count_params())

    @property
    def params_after(self):
        """Parameter count of the pruned model."""
        return int(self._pruned_skeleton().count_params())

    @property
    def flops_before(self):
        """FLOPs per example of the planned model (``tfbig.report.count_flops``)."""
        from tfbig.report import count_flops

        return int(count_flops(self.model))

    @property
    def flops_after(self):
        """FLOPs per example of the pruned model (``tfbig.report.count_flops``)."""
        from tfbig.report import count_flops

        return int(count_flops(self._pruned_skeleton()))

    def removed_channels(self, layer_name):
        """Indices of the output channels (or heads) that ``layer_name`` loses."""
        cut = self.cuts[layer_name]
        mask = cut.heads if cut.heads is not None else cut.outputs[0]
        return np.flatnonzero(~mask).tolist()

    def apply(self, copy_weights=True):
        """Builds the pruned model: a NEW tf_keras model with the kept weights.

        Args:
            copy_weights: copy the kept weights from the planned model.
                Defaults to ``True``.

        Returns:
            The new, smaller (uncompiled) model.
        """
        model = _surgery.rebuild(self.model, self.graph.layers, self.cuts, copy_weights,
                                 self.dropped)
        logging.info("structured pruning: %d -> %d parameters",
                     self.params_before, model.count_params())
        return model

    def zero_masks(self):
        """``[(variable, 0/1 mask)]`` that zero the planned channels in place."""
        return _surgery.zero_masks(self.graph.layers, self.cuts, self.dropped)

    def details(self):
        """A readable report: groups, layers, channels, parameters and FLOPs."""
        pb, pa, fb, fa = self.params_before, self.params_after, self.flops_before, self.flops_after
        lines = [
            f"Structured pruning plan for {self.model.name!r} "
            f"(ratio={self.settings['ratio']}, importance={self.settings['importance']!r}, "
            f"round_to={self.settings['round_to']}, "
            f"global_ranking={self.settings['global_ranking']})",
            f"  parameters: {pb:,} -> {pa:,} ({pa / max(pb, 1):.1%})",
            f"  FLOPs:      {fb:,} -> {fa:,} ({fa / max(fb, 1):.1%})",
            "  pruned groups (layers that create the channels: before -> after):",
        ]
        for g in self.groups:
            if g.removed:
                lines.append(f"    {', '.join(g.layers)}: {g.size} -> {g.kept} {g.kind}")
        lines.append("  layers whose channels change (in->out channels; params; FLOPs):")
        from tfbig.report import flops_per_layer

        skeleton = self._pruned_skeleton()
        before = {layer.name: layer for layer in self.model.layers}
        after = {layer.name: layer for layer in skeleton.layers}
        f_before, f_after = flops_per_layer(self.model), flops_per_layer(skeleton)
        for name, cut in self.cuts.items():
            if cut.changed and name not in self.dropped and name in after:
                heads = ""
                if cut.heads is not None:
                    heads = f", heads {len(cut.heads)} -> {int(cut.heads.sum())}"
                lines.append(
                    f"    {name}: {_io(before[name])} -> {_io(after[name])}{heads}; "
                    f"{before[name].count_params():,} -> {after[name].count_params():,}; "
                    f"{f_before.get(name) or 0:,} -> {f_after.get(name) or 0:,}")
        if self.blocks:
            lines.append("  residual branches removed (the Add passes its other input on):")
            for b in self.blocks:
                lines.append(f"    {b.add}: {', '.join(b.layers)} (output scale {b.score:.3g})")
        lines.append("  left intact (channels these layers create stay):")
        for name, reason in self.intact:
            what = " (output channels)" if self.cuts[name].heads is not None else ""
            lines.append(f"    {name}{what}: {reason}")
        return "\n".join(lines)

    def __repr__(self):
        removed = sum(len(g.removed) for g in self.groups)
        return (f"<StructuredPlan model={self.model.name!r} groups={len(self.groups)} "
                f"removed_units={removed} intact={len(self.intact)}>")


def _io(layer):
    def last(shape):
        if isinstance(shape, list):
            return "/".join(str(s[-1]) for s in shape)
        return str(shape[-1])

    return f"{last(layer.input_shape)}->{last(layer.output_shape)}"


def _validate(ratio, importance, round_to, layer_ratios, on_unsupported, block_ratio=0.0):
    for name, r in [("ratio", ratio), ("block_ratio", block_ratio)] + [(f"layer_ratios[{k!r}]", v)
                                          for k, v in (layer_ratios or {}).items()]:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0.0 <= r < 1.0:
            raise ValueError(
                f"`{name}` is the fraction of channels to remove and must be in "
                "[0, 1): a ratio of 1 or more would remove every channel of a layer. "
                f"Received: {name}={r!r}"
            )
    if importance not in _importance.CRITERIA:
        raise ValueError(f"`importance` must be one of {_importance.CRITERIA}. "
                         f"Received: importance={importance!r}")
    if isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1:
        raise ValueError(f"`round_to` must be a positive integer. Received: round_to={round_to!r}")
    if on_unsupported not in ("raise", "keep"):
        raise ValueError("`on_unsupported` must be 'raise' or 'keep'. "
                         f"Received: on_unsupported={on_unsupported!r}")


def plan(model, ratio=0.5, importance="l1", round_to=1, global_ranking=False,
         layer_ratios=None, ignore=(), on_unsupported="raise", data=None, loss=None,
         taylor_batches=4, block_ratio=0.0):
    """Plans structured pruning: which channels, neurons and heads to remove.

    Builds the channel dependency graph of ``model`` (layers coupled by
    ``Add``, ``Multiply``, shared BatchNorms... lose the same channels), scores
    each coupled channel and picks the least important ones. Nothing changes
    until ``.apply()``; ``.details()`` says what would.

    Args:
        model: a built Sequential or functional tf_keras model.
        ratio: fraction of each group's channels (or heads) to remove, in
            [0, 1). Defaults to 0.5.
        importance: ``"l1"``, ``"l2"``, ``"bn"`` (BatchNorm gamma) or
            ``"taylor"`` (needs ``data`` and ``loss``). Defaults to ``"l1"``.
        round_to: keep a multiple of this many channels per group (heads are
            not rounded). Defaults to 1.
        global_ranking: rank channels across groups (scores normalized per
            group) instead of removing ``ratio`` of every group.
            Defaults to ``False``.
        layer_ratios: ``{layer name: ratio}`` overriding ``ratio`` for the
            groups those layers create. Defaults to ``None``.
        ignore: names of layers to leave intact. Defaults to ``()``.
        on_unsupported: what to do with a layer that has no surgeon but
            receives prunable channels: ``"raise"`` or ``"keep"`` (leave those
            channels intact). Defaults to ``"raise"``.
        data: ``(x, y)`` arrays or a batched ``tf.data.Dataset`` for
            ``"taylor"``. Defaults to ``None``.
        loss: a Keras loss (object or name) for ``"taylor"``; the model's
            compiled loss if ``None``. Defaults to ``None``.
        taylor_batches: batches of ``data`` to use. Defaults to 4.
        block_ratio: fraction of the removable residual branches (``x + f(x)``
            where ``f``'s layers serve only that ``Add``) to remove whole,
            those whose last weighted layer has the smallest mean |weight|
            (BatchNorm: |gamma|) first. Defaults to 0.0.

    Returns:
        A ``StructuredPlan``.

    Raises:
        TypeError: for a Keras 3, subclassed or unbuilt model.
        ValueError: for a bad ratio or option, or an unsupported layer in a
            coupled group (with ``on_unsupported="raise"``).

    Example:

    >>> from tfbig.models import cnn
    >>> p = plan(cnn(filters=(16, 16), dense_units=None), ratio=0.5, round_to=4)
    >>> p.params_after < p.params_before
    True
    """
    check_model(model)
    _validate(ratio, importance, round_to, layer_ratios, on_unsupported, block_ratio)
    graph = ChannelGraph(model, on_unsupported=on_unsupported, ignore=ignore)
    roots, pinned = graph.components()
    grads = None
    if importance == "taylor":
        grads = _taylor(model, data, loss, taylor_batches)
    scores, _ = _importance.component_scores(graph, roots, importance, grads)
    selector = Selector(graph, scores, roots, pinned)
    layer_ratios = dict(layer_ratios or {})

    def ratio_of(key):
        names = [graph.sources[s].layer for s in key]
        picked = [layer_ratios[n] for n in names if n in layer_ratios]
        return max(picked) if picked else ratio

    if global_ranking:
        removed = selector.global_(ratio, round_to)
    else:
        removed = selector.per_group(ratio_of, round_to)
    blocks = []
    if block_ratio:
        blocks = _blocks.select_branches(_blocks.find_branches(model), block_ratio)
    return _assemble(model, graph, selector, removed, roots, pinned, dict(
        ratio=ratio, importance=importance, round_to=round_to, global_ranking=global_ranking,
        block_ratio=block_ratio), blocks)


def _taylor(model, data, loss, batches):
    if data is None:
        raise ValueError("importance='taylor' needs `data`: `(x, y)` arrays or a batched "
                         "tf.data.Dataset of a few training batches. Received: data=None")
    loss = loss if loss is not None else getattr(model, "loss", None)
    if loss is None:
        raise ValueError("importance='taylor' needs a `loss` (or a compiled model). "
                         "Received: loss=None")
    return _importance.taylor_gradients(model, data, loss, batches)


def _assemble(model, graph, selector, removed, roots, pinned, settings, blocks):
    removed_roots = {r for rs in removed.values() for r in rs}
    gone = np.isin(roots, list(removed_roots)) if removed_roots else np.zeros(len(roots), bool)

    def keep(amap):
        amap = np.asarray(amap)
        return (amap < 0) | ~gone[np.maximum(amap, 0)] if len(gone) else np.ones(len(amap), bool)

    cuts = {}
    for name, entry in graph.layers.items():
        heads = graph._owned.get((name, "head"))
        cuts[name] = Cut([keep(m) for m in entry["inputs"]], [keep(m) for m in entry["outputs"]],
                         keep(heads) if heads is not None else None, entry["state"])
    groups, intact = [], []
    for key, comp_roots in selector.groups.items():
        layers = tuple(dict.fromkeys(graph.sources[s].layer for s in sorted(key)))
        why = [pinned[r] for r in comp_roots if r in pinned]
        first = graph.sources[min(key)]
        idx = sorted(int(np.flatnonzero(roots[first.start:first.start + first.size] == r)[0])
                     for r in removed[key])
        reason = None
        if why:
            culprit, text = why[0]
            reason = text + (f" (at {culprit!r})" if culprit and culprit not in layers else "")
            if len(why) == len(comp_roots):
                intact += [(name, reason) for name in layers]
        groups.append(Group(layers, selector.kind(key), len(comp_roots),
                            len(comp_roots) - len(idx), idx, reason))
    return StructuredPlan(model, graph, groups, cuts, intact, settings, blocks)


def prune(model, ratio=0.5, **kwargs):
    """Plans and applies structured pruning in one call; returns a NEW model.

    Args:
        model: a built Sequential or functional tf_keras model (unchanged).
        ratio: fraction of channels to remove. Defaults to 0.5.
        **kwargs: the other arguments of :func:`plan`.

    Returns:
        A new, smaller tf_keras model with the kept weights copied.

    Example:

    >>> from tfbig.models import mlp
    >>> prune(mlp(hidden=(16,)), ratio=0.25).get_layer("dense1").units
    12
    """
    return plan(model, ratio=ratio, **kwargs).apply()
