"""Parameter counts, non-zero counts and sparsity, per layer and in total.

Parameters are the variables of the model's layers, trainable or not (as in
``model.count_params()``). Pruning and quantization wrappers are looked
through: their masks, thresholds, steps and quantizer ranges are bookkeeping,
not parameters, so a wrapped model reports the same count as the plain one.
"""

import dataclasses

import numpy as np

from tfbig._backend import check_model
from tfbig._backend import is_graph_network
from tfbig._backend import keras
from tfbig.report._walk import base_name
from tfbig.report._walk import leaf_layers
from tfbig.report._walk import parameter_weights
from tfbig.report.flops import flops_per_layer

__all__ = [
    "LayerStats",
    "ModelStats",
    "count_params",
    "count_nonzero_params",
    "layer_sparsity",
    "model_stats",
]

# Weights that weight pruning targets; `kernel_sparsity` is measured on these.
_KERNEL_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")


@dataclasses.dataclass
class LayerStats:
    """Statistics of one layer (wrappers looked through).

    Attributes:
        name: the layer name (``"outer/inner"`` inside nested models).
        class_name: the layer class (of the wrapped layer).
        params: number of parameters.
        nonzero_params: number of parameters that are not exactly zero.
        sparsity: ``1 - nonzero_params / params`` (0.0 for no parameters).
        kernel_sparsity: sparsity of the kernel-like weights only (what weight
            pruning targets), or ``None`` if the layer has none.
        flops: FLOPs for one example (``None`` if unknown or not computed).
        sparse_flops: FLOPs counting only non-zero weights' multiply-adds.
    """

    name: str
    class_name: str
    params: int
    nonzero_params: int
    sparsity: float
    kernel_sparsity: float = None
    flops: int = None
    sparse_flops: int = None


@dataclasses.dataclass
class ModelStats:
    """Whole-model statistics (see :func:`model_stats`)."""

    params: int
    nonzero_params: int
    sparsity: float
    flops: int
    sparse_flops: int
    layers: list

    def to_dict(self):
        """A JSON-ready dict (layers as a list of dicts)."""
        return dataclasses.asdict(self)


def _weight_counts(weights):
    total = nonzero = 0
    for w in weights:
        value = keras.backend.get_value(w)
        total += int(value.size)
        nonzero += int(np.count_nonzero(value))
    return total, nonzero


def _is_kernel(weight):
    return base_name(weight) in _KERNEL_NAMES


def _layer_rows(model):
    rows = []
    for name, layer, outer in leaf_layers(model):
        weights = parameter_weights(outer)
        params, nonzero = _weight_counts(weights)
        kernels = [w for w in weights if _is_kernel(w)]
        kernel_sparsity = None
        if kernels:
            k_total, k_nonzero = _weight_counts(kernels)
            kernel_sparsity = 1.0 - k_nonzero / k_total if k_total else 0.0
        rows.append(
            LayerStats(
                name=name,
                class_name=type(layer).__name__,
                params=params,
                nonzero_params=nonzero,
                sparsity=1.0 - nonzero / params if params else 0.0,
                kernel_sparsity=kernel_sparsity,
            )
        )
    return rows


def count_params(model):
    """Number of parameters (trainable and not), wrappers looked through.

    Equals ``model.count_params()`` for a plain model, and stays the same
    after pruning or quantization wrappers are added.

    Example:

    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
    >>> count_params(m)
    15
    """
    check_model(model)
    return sum(row.params for row in _layer_rows(model))


def count_nonzero_params(model):
    """Number of parameters that are not exactly zero (wrappers looked through).

    Example:

    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
    >>> count_nonzero_params(m)  # the bias starts at zero
    12
    """
    check_model(model)
    return sum(row.nonzero_params for row in _layer_rows(model))


def layer_sparsity(model, kernels_only=True):
    """Sparsity (fraction of exact zeros) of each layer that has parameters.

    Args:
        model: a tf_keras model.
        kernels_only: measure only kernel-like weights (``kernel``,
            ``depthwise_kernel``, ``pointwise_kernel``, ``embeddings``: what
            weight pruning targets); else all the layer's parameters.
            Defaults to ``True``.

    Returns:
        A dict ``layer name -> sparsity in [0, 1]``.

    Example:

    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(2,), name="d")])
    >>> m.layers[0].kernel.assign([[0.0, 1.0], [0.0, 0.0]])  # doctest: +ELLIPSIS
    <...>
    >>> layer_sparsity(m)
    {'d': 0.75}
    """
    check_model(model)
    result = {}
    for row in _layer_rows(model):
        if kernels_only:
            if row.kernel_sparsity is not None:
                result[row.name] = row.kernel_sparsity
        elif row.params:
            result[row.name] = row.sparsity
    return result


def model_stats(model):
    """Parameters, non-zeros, sparsity and FLOPs of a model, per layer and total.

    FLOPs follow :mod:`tfbig.report.flops` (1 multiply-add = 2 FLOPs, one
    example); they are ``None`` for subclassed models, whose graph is unknown.

    Args:
        model: a tf_keras model (Sequential, functional or subclassed).

    Returns:
        A :class:`ModelStats` with a :class:`LayerStats` per layer.

    Example:

    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
    >>> s = model_stats(m)
    >>> s.params, s.nonzero_params, s.flops
    (15, 12, 27)
    """
    check_model(model)
    rows = _layer_rows(model)
    flops = sparse_flops = None
    if is_graph_network(model):
        dense = flops_per_layer(model)
        sparse = flops_per_layer(model, sparse=True)
        for row in rows:
            row.flops, row.sparse_flops = dense.get(row.name), sparse.get(row.name)
        flops = sum(f for f in dense.values() if f)
        sparse_flops = sum(f for f in sparse.values() if f)
    params = sum(r.params for r in rows)
    nonzero = sum(r.nonzero_params for r in rows)
    return ModelStats(
        params=params,
        nonzero_params=nonzero,
        sparsity=1.0 - nonzero / params if params else 0.0,
        flops=flops,
        sparse_flops=sparse_flops,
        layers=rows,
    )
