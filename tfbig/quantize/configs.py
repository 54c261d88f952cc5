"""tfbig's ``QuantizeConfig``: one serializable config reaching into sublayers.

tfmot quantizes a layer through a ``QuantizeConfig`` that names the weights and
activations to fake-quantize. Its built-in configs look only at the layer's own
attributes; :class:`LayerQuantizeConfig` takes dotted attribute paths
(``"_query_dense.kernel"``), so one class covers Dense-like layers, the
projections inside ``MultiHeadAttention``, and output-only layers such as
``LayerNormalization``.
"""

import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (  # noqa: E501
    prune_preserve_quantize_registry as _prune_preserve,
)

from tfbig._backend import register_serializable
from tfbig.quantize._sync import SyncMovingAverageQuantizer

__all__ = [
    "LayerQuantizeConfig",
    "NamedLastValueQuantizer",
    "NamedMovingAverageQuantizer",
    "SparsityPreservingWeightsQuantizer",
]

_quantizers = tfmot.quantization.keras.quantizers


def _resolve(obj, path):
    owner = obj
    parts = path.split(".")
    for part in parts[:-1]:
        owner = getattr(owner, part)
    return owner, parts[-1]


def _prefix(path):
    return path.replace(".", "_").strip("_")


def _join(prefix, name):
    return f"{prefix}_{name}" if prefix else name


class _NamedRanges:
    """Mixin: prefixes the names of a tfmot quantizer's range variables."""

    def __init__(self, name_prefix, **kwargs):
        super().__init__(**kwargs)
        self.name_prefix = name_prefix

    def build(self, tensor_shape, name, layer):
        return super().build(tensor_shape, _join(self.name_prefix, name), layer)

    def get_config(self):
        return {**super().get_config(), "name_prefix": self.name_prefix}


@register_serializable()
class NamedLastValueQuantizer(_NamedRanges, _quantizers.LastValueQuantizer):
    """tfmot's ``LastValueQuantizer`` whose range variables carry a prefix.

    tfmot names range variables after the weight (``kernel_min``), which
    repeats for the four kernels inside attention and breaks ``.h5`` saving.

    Args:
        name_prefix: prefix of the range variables, e.g. ``"query_dense"``.
        **kwargs: ``LastValueQuantizer`` arguments.

    Example:

    >>> q = NamedLastValueQuantizer("query", num_bits=8, per_axis=False,
    ...                             symmetric=True, narrow_range=True)
    >>> q.get_config()["name_prefix"]
    'query'
    """


@register_serializable()
class NamedMovingAverageQuantizer(_NamedRanges, SyncMovingAverageQuantizer):
    """tfmot's ``MovingAverageQuantizer`` whose range variables carry a prefix.

    Under a multi-replica strategy its ranges follow the global batch min/max
    (see ``SyncMovingAverageQuantizer``), as on one device.

    Args:
        name_prefix: prefix of the range variables, e.g. ``"scores_quant"``.
        **kwargs: ``MovingAverageQuantizer`` arguments.

    Example:

    >>> q = NamedMovingAverageQuantizer("probs", num_bits=8, per_axis=False,
    ...                                 symmetric=False, narrow_range=False)
    >>> q.get_config()["name_prefix"]
    'probs'
    """


@register_serializable()
class SparsityPreservingWeightsQuantizer(_prune_preserve.PrunePreserveDefaultWeightsQuantizer):
    """tfmot's prune-preserving 8-bit weight quantizer for any (nested) weight.

    tfmot's quantizer reads the zero mask from ``wrapped_layer.<name>``, which
    fails for weights inside sublayers; this one reads it from a dotted path.

    Args:
        weight_path: dotted path of the weight inside the wrapped layer.
        per_axis: per-output-channel ranges. Defaults to ``False``.

    Example:

    >>> SparsityPreservingWeightsQuantizer("kernel").get_config()["weight_path"]
    'kernel'
    """

    def __init__(self, weight_path, per_axis=False, **kwargs):
        super().__init__(num_bits=8, per_axis=per_axis, symmetric=True, narrow_range=True)
        self.weight_path = weight_path

    def _build_sparsity_mask(self, name, layer):
        owner, attr = _resolve(layer.layer, self.weight_path)
        weights = getattr(owner, attr)
        return {"sparsity_mask": tf.math.divide_no_nan(weights, weights)}

    def build(self, tensor_shape, name, layer):
        return super().build(tensor_shape, _prefix(self.weight_path), layer)

    def get_config(self):
        return {"weight_path": self.weight_path, "per_axis": self.per_axis}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@register_serializable()
class LayerQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
    """Fake-quantizes named (possibly nested) weights, activations and the output.

    Weights get symmetric 8-bit per-tensor ranges (``LastValueQuantizer``),
    activations and the output get asymmetric moving-average ranges, as tfmot's
    default 8-bit scheme does; with ``preserve_sparsity`` the weights keep their
    zeros (tfmot's prune-preserving quantizer).

    Args:
        weight_attrs: dotted paths of weights to quantize, e.g.
            ``("_query_dense.kernel",)``. Defaults to ``()``.
        activation_attrs: dotted paths of activation callables to wrap (each
            must be a Keras activation such as ``linear``). Defaults to ``()``.
        quantize_output: fake-quantize the layer output. Defaults to ``False``.
        preserve_sparsity: keep weight zeros through QAT. Defaults to ``False``.

    Example:

    >>> config = LayerQuantizeConfig(quantize_output=True)
    >>> config.get_config()["quantize_output"]
    True
    """

    def __init__(
        self, weight_attrs=(), activation_attrs=(), quantize_output=False, preserve_sparsity=False
    ):
        self.weight_attrs = tuple(weight_attrs)
        self.activation_attrs = tuple(activation_attrs)
        self.quantize_output = bool(quantize_output)
        self.preserve_sparsity = bool(preserve_sparsity)

    def _weight_quantizer(self, path):
        if self.preserve_sparsity:
            return SparsityPreservingWeightsQuantizer(path)
        return NamedLastValueQuantizer(
            _prefix(path.rpartition(".")[0]),
            num_bits=8, per_axis=False, symmetric=True, narrow_range=True,
        )

    @staticmethod
    def _activation_quantizer(name):
        return NamedMovingAverageQuantizer(
            name, num_bits=8, per_axis=False, symmetric=False, narrow_range=False
        )

    def get_weights_and_quantizers(self, layer):
        return [
            (getattr(*_resolve(layer, path)), self._weight_quantizer(path))
            for path in self.weight_attrs
        ]

    def get_activations_and_quantizers(self, layer):
        return [
            (getattr(*_resolve(layer, path)), self._activation_quantizer(_prefix(path)))
            for path in self.activation_attrs
        ]

    def set_quantize_weights(self, layer, quantize_weights):
        if len(quantize_weights) != len(self.weight_attrs):
            raise ValueError(
                f"Expected {len(self.weight_attrs)} quantized weights for layer "
                f"{layer.name!r}. Received: {len(quantize_weights)}"
            )
        for path, weight in zip(self.weight_attrs, quantize_weights):
            setattr(*_resolve(layer, path), weight)

    def set_quantize_activations(self, layer, quantize_activations):
        if len(quantize_activations) != len(self.activation_attrs):
            raise ValueError(
                f"Expected {len(self.activation_attrs)} quantized activations for layer "
                f"{layer.name!r}. Received: {len(quantize_activations)}"
            )
        for path, activation in zip(self.activation_attrs, quantize_activations):
            setattr(*_resolve(layer, path), activation)

    def get_output_quantizers(self, layer):
        return [self._activation_quantizer("")] if self.quantize_output else []

    def get_config(self):
        return {
            "weight_attrs": list(self.weight_attrs),
            "activation_attrs": list(self.activation_attrs),
            "quantize_output": self.quantize_output,
            "preserve_sparsity": self.preserve_sparsity,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, LayerQuantizeConfig) and self.get_config() == other.get_config()

    def __ne__(self, other):
        return not self == other
