"""Which layers of a QAT model are quantized, which stay float, which keep zeros."""

import dataclasses

from tensorflow_model_optimization.python.core.quantization.keras import quantize_layer
from tensorflow_model_optimization.python.core.quantization.keras import quantize_wrapper
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (  # noqa: E501
    prune_preserve_quantize_registry as _prune_preserve,
)

from tfbig._backend import check_model
from tfbig._backend import keras

__all__ = ["QuantizationReport", "quantization_report"]


@dataclasses.dataclass
class QuantizationReport:
    """What QAT did to each layer.

    Attributes:
        quantized: ``{layer name: wrapped class name}`` of fake-quantized layers.
        float_layers: ``{layer name: class name}`` of layers left float.
        sparsity_preserved: names of layers whose weights keep their zeros.
    """

    quantized: dict
    float_layers: dict
    sparsity_preserved: list

    def summary(self):
        """One line: counts, float layer names, sparsity-preserving layers."""
        return (
            f"{len(self.quantized)} layers quantized, {len(self.float_layers)} float "
            f"{sorted(self.float_layers)}; sparsity preserved in "
            f"{len(self.sparsity_preserved)} {sorted(self.sparsity_preserved)}"
        )


def _preserves_sparsity(wrapper):
    return any(
        isinstance(quantizer, _prune_preserve.PrunePreserveDefaultWeightsQuantizer)
        for _, quantizer, _ in getattr(wrapper, "_weight_vars", [])
    )


def _inbound_names(model):
    """``{layer name: [inbound layer names]}`` within ``model`` itself."""
    config = model.get_config() if hasattr(model, "_is_graph_network") else {}
    names = {}
    for layer in config.get("layers", []):
        nodes = layer.get("inbound_nodes") or []
        names[layer.get("name") or layer["config"]["name"]] = [
            entry[0] for node in nodes for entry in node
            if isinstance(node, list) and isinstance(entry, list)
        ]
    return names


def _folded_batch_norm(layer, inbound, wrapped):
    # tfmot's Conv+BN patterns leave BN unwrapped; the converter folds it into
    # the quantized conv before it, so it runs int8.
    parents = inbound.get(layer.name, [])
    return (
        isinstance(layer, keras.layers.BatchNormalization)
        and bool(parents)
        and all(name in wrapped for name in parents)
    )


def quantization_report(model):
    """Reads a QAT model (as built by ``qat`` or loaded) into a report.

    Args:
        model: a tf_keras model, usually from :func:`tfbig.quantize.qat`.

    Returns:
        A :class:`QuantizationReport`.

    Example:

    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(4, input_shape=(3,), name="fc")])
    >>> quantization_report(m).float_layers
    {'fc': 'Dense'}
    """
    check_model(model)
    quantized, float_layers, preserved = {}, {}, []
    wrapped = {
        layer.name for layer in model.layers
        if isinstance(layer, quantize_wrapper.QuantizeWrapper)
    }
    inbound = _inbound_names(model) if wrapped else {}
    for layer in model.layers:
        if isinstance(layer, (keras.layers.InputLayer, quantize_layer.QuantizeLayer)):
            continue
        if isinstance(layer, quantize_wrapper.QuantizeWrapper):
            quantized[layer.name] = type(layer.layer).__name__
            if _preserves_sparsity(layer):
                preserved.append(layer.name)
        elif _folded_batch_norm(layer, inbound, wrapped):
            quantized[layer.name] = "BatchNormalization (folded into the conv by tfmot)"
        else:
            float_layers[layer.name] = type(layer).__name__
    return QuantizationReport(quantized, float_layers, preserved)
