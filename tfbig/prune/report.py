"""``tfbig.prune.sparsity_report``: per-layer sparsity as data and as a table."""

import dataclasses

import numpy as np

from tfbig._backend import check_model
from tfbig._backend import keras
from tfbig.prune import _walk
from tfbig.prune.schedules import final_sparsity

__all__ = ["LayerSparsity", "SparsityReport", "sparsity_report"]

# Kernel-like weights of a plain (unpruned or stripped) model.
_KERNEL_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")


@dataclasses.dataclass
class LayerSparsity:
    """Sparsity of one prunable layer.

    Attributes:
        name: layer path (``"outer/inner"`` inside nested models).
        class_name: class of the (wrapped) layer.
        size: number of weights pruning targets in the layer.
        zeros: how many of them are zero (after the mask).
        sparsity: ``zeros / size``.
        target: the schedule's final sparsity, or ``None`` (plain model,
            m:n, or an unknown schedule).
    """

    name: str
    class_name: str
    size: int
    zeros: int
    sparsity: float
    target: float = None


@dataclasses.dataclass
class SparsityReport:
    """Per-layer and overall sparsity of the prunable weights of a model.

    Attributes:
        layers: a :class:`LayerSparsity` per prunable layer.
        overall: zeros / size over those layers.
        params: all parameters of the model (``tfbig.report.count_params``).
        nonzero_params: non-zero parameters (``tfbig.report.count_nonzero_params``).
    """

    layers: list
    overall: float
    params: int
    nonzero_params: int

    def to_dict(self):
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    def table(self):
        """The report as a printable text table."""
        width = max([len("layer")] + [len(r.name) for r in self.layers])
        lines = [f"{'layer':<{width}}  {'class':<18} {'weights':>9} {'zeros':>9} "
                 f"{'sparsity':>8} {'target':>7}"]
        for r in self.layers:
            target = "" if r.target is None else f"{r.target:.3f}"
            lines.append(f"{r.name:<{width}}  {r.class_name:<18} {r.size:>9} {r.zeros:>9} "
                         f"{r.sparsity:>8.3f} {target:>7}")
        size = sum(r.size for r in self.layers)
        zeros = sum(r.zeros for r in self.layers)
        lines.append(f"{'overall':<{width}}  {'':<18} {size:>9} {zeros:>9} {self.overall:>8.3f}")
        lines.append(f"model parameters: {self.params}, non-zero: {self.nonzero_params}")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def _row(name, class_name, values, target):
    size = int(sum(v.size for v in values))
    zeros = int(sum(v.size - np.count_nonzero(v) for v in values))
    return LayerSparsity(name, class_name, size, zeros, zeros / size if size else 0.0, target)


def _plain_rows(model):
    rows = []
    for name, layer in _walk.leaves(model):
        kernels = [w for w in layer.weights
                   if w.name.split("/")[-1].split(":")[0] in _KERNEL_NAMES]
        if kernels:
            values = keras.backend.batch_get_value(kernels)
            rows.append(_row(name, type(layer).__name__, values, None))
    return rows


def sparsity_report(model):
    """Measures the sparsity of each prunable layer and overall.

    On a pruned model the rows are the pruned layers and count the zeros of
    ``weight * mask`` (what the model computes with). On a plain model (e.g.
    after :func:`tfbig.prune.strip`) they are the kernel-like weights
    (``kernel``, ``embeddings``...) of every layer. Model totals come from
    :mod:`tfbig.report`.

    Args:
        model: a tf_keras model, pruned or not.

    Returns:
        A :class:`SparsityReport`; ``print(report)`` shows it as a table.

    Raises:
        TypeError: for a Keras 3 model or not a model.

    Example:

    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(2,), name="d")])
    >>> m.layers[0].kernel.assign([[0.0, 1.0], [0.0, 0.0]])  # doctest: +ELLIPSIS
    <...>
    >>> r = sparsity_report(m)
    >>> r.overall, r.layers[0].zeros
    (0.75, 3)
    """
    from tfbig import report as generic

    check_model(model)
    found = _walk.wrappers(model)
    if found:
        rows = []
        for path, wrapper in found:
            values = [keras.backend.get_value(w) * keras.backend.get_value(m)
                      for w, m, _ in wrapper.pruning_vars]
            target = None if wrapper.sparsity_m_by_n else final_sparsity(wrapper.pruning_schedule)
            rows.append(_row(path, type(wrapper.layer).__name__, values, target))
    else:
        rows = _plain_rows(model)
    size = sum(r.size for r in rows)
    zeros = sum(r.zeros for r in rows)
    return SparsityReport(
        layers=rows,
        overall=zeros / size if size else 0.0,
        params=generic.count_params(model),
        nonzero_params=generic.count_nonzero_params(model),
    )
