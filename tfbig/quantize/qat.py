"""Quantization-aware training: ``qat(model)`` returns a model to compile and fit."""

import numpy as np
import tensorflow_model_optimization as tfmot
from absl import logging
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (  # noqa: E501
    default_8bit_prune_preserve_quantize_scheme as _prune_preserve_scheme,
)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_registry as _default_registry,
)

from tfbig._backend import check_model
from tfbig._backend import keras
from tfbig.quantize._graph import make_wrappable
from tfbig.quantize._scope import register_tfmot_objects
from tfbig.quantize._sync import SyncRangesScheme
from tfbig.quantize.registry import tfbig_quantize_config
from tfbig.quantize.report import quantization_report

__all__ = ["qat", "is_pruned"]

_tfq = tfmot.quantization.keras
_SPARSE_FRACTION = 0.1  # a kernel with >= 10% exact zeros counts as pruned
_SPARSITY_OPTIONS = ("auto", True, False)


def _kernels(model):
    for layer in model.submodules:
        for weight in getattr(layer, "weights", []):
            if weight.name.split("/")[-1].startswith("kernel") and len(weight.shape) >= 2:
                yield weight


def is_pruned(model, min_fraction=_SPARSE_FRACTION):
    """Whether some kernel of ``model`` has at least ``min_fraction`` exact zeros.

    Args:
        model: a tf_keras model.
        min_fraction: fraction of zeros that marks a kernel as pruned.
            Defaults to 0.1.

    Returns:
        ``bool``.

    Example:

    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(4, input_shape=(3,))])
    >>> is_pruned(m)
    False
    """
    check_model(model)
    return any(np.mean(w.numpy() == 0) >= min_fraction for w in _kernels(model))


def _check_no_pruning_wrappers(model):
    for layer in model.layers:
        if "Prune" in type(layer).__name__:
            raise ValueError(
                f"Layer {layer.name!r} is still wrapped for pruning "
                f"({type(layer).__name__}). Strip the pruning wrappers first "
                "(tfmot.sparsity.keras.strip_pruning(model) or tfbig.prune's strip) "
                f"and pass the stripped model. Received: model={model.name!r}"
            )


def _selected(layer, layers):
    if layers is None:
        return True
    return any(
        layer.name == item or (isinstance(item, type) and isinstance(layer, item))
        or (isinstance(item, str) and type(layer).__name__ == item)
        for item in layers
    )


def _check_layers_arg(model, layers):
    if layers is None:
        return None
    if isinstance(layers, (str, type)) or not hasattr(layers, "__iter__"):
        raise TypeError(
            "`layers` must be a list of layer names or classes, or None for all. "
            f"Received: layers={layers!r}"
        )
    layers = list(layers)
    names = {layer.name for layer in model.layers}
    class_names = {type(layer).__name__ for layer in model.layers}
    unknown = [
        item for item in layers
        if isinstance(item, str) and item not in names and item not in class_names
    ]
    if unknown:
        raise ValueError(
            f"`layers` names {unknown} match no layer of model {model.name!r}; "
            f"its layers are {sorted(names)}. Received: layers={layers!r}"
        )
    return layers


def _annotate(model, layers, preserve_sparsity, configs):
    """Annotates each selected layer that has a QuantizeConfig."""
    tfmot_registry = _default_registry.Default8BitQuantizeRegistry()

    def annotate(layer):
        if isinstance(layer, keras.layers.InputLayer) or not _selected(layer, layers):
            return layer
        config = configs.get(layer.name) or configs.get(type(layer).__name__)
        if config is None:
            config = tfbig_quantize_config(layer, preserve_sparsity)
        if config is None and not tfmot_registry.supports(layer):
            return layer
        return _tfq.quantize_annotate_layer(layer, config)

    return keras.models.clone_model(model, clone_function=annotate)


def qat(model, layers=None, preserve_sparsity="auto", configs=None):
    """Returns a quantization-aware copy of ``model`` to compile and ``fit``.

    Built on tfmot's annotate/apply machinery: layers tfmot knows (Conv, Dense,
    BatchNormalization, ReLU, Add, pooling, ...) use its default 8-bit scheme,
    and tfbig's :class:`LayerQuantizeConfig` covers transformer blocks
    (``MultiHeadAttention`` with its EinsumDense projections, softmax and the two
    batched matmuls, ``LayerNormalization``, ``+`` residuals, GELU dense layers,
    the reference ``PositionEmbedding``). Layers with no config stay float; the
    split is logged and given by :func:`quantization_report`. Saved as ``.h5`` or
    SavedModel (``tfbig.export.keras`` / ``savedmodel``), the model loads with
    ``keras.models.load_model`` without any scope once ``tfbig.quantize`` is
    imported, and converts to an int8 TFLite file with
    ``tfbig.export.tflite(..., quantize="int8", calibration=...)``. Under a
    multi-replica ``tf.distribute`` strategy the activation ranges are updated
    from the global batch min/max (all-reduced across replicas), so they match
    single-device training on the same global batch.

    Args:
        model: a Sequential or functional tf_keras model (not modified).
        layers: names and/or classes of the layers to quantize, or ``None`` for
            every layer that can be. Defaults to ``None``.
        preserve_sparsity: keep the zeros of a pruned model through QAT
            (tfmot's prune-preserving scheme): ``True``, ``False`` or
            ``"auto"`` (when :func:`is_pruned`). Defaults to ``"auto"``.
        configs: ``{layer name or class name: QuantizeConfig}`` overriding the
            registries, e.g. for your own layers. Defaults to ``None``.

    Returns:
        A new tf_keras model with tfmot ``QuantizeWrapperV2`` layers.

    Raises:
        TypeError: for a Keras 3 or subclassed model, or a bad ``layers``.
        ValueError: for a bad ``preserve_sparsity``, unknown layer names, or a
            model that still has pruning wrappers.

    Example:

    >>> from tfbig import keras
    >>> model = keras.Sequential([keras.layers.Dense(4, input_shape=(3,), name="fc")])
    >>> qat(model).layers[-1].name
    'quant_fc'
    """
    check_model(model, allow_subclassed=False)
    if preserve_sparsity not in _SPARSITY_OPTIONS or preserve_sparsity is None:
        raise ValueError(
            "`preserve_sparsity` must be 'auto', True or False. "
            f"Received: preserve_sparsity={preserve_sparsity!r}"
        )
    layers = _check_layers_arg(model, layers)
    _check_no_pruning_wrappers(model)
    if preserve_sparsity == "auto":
        preserve_sparsity = is_pruned(model)
    register_tfmot_objects()
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy, _ = make_wrappable(copy)
    annotated = _annotate(copy, layers, bool(preserve_sparsity), dict(configs or {}))
    scheme = (
        _prune_preserve_scheme.Default8BitPrunePreserveQuantizeScheme()
        if preserve_sparsity
        else _tfq.default_8bit.Default8BitQuantizeScheme()
    )
    quantized = _tfq.quantize_apply(annotated, SyncRangesScheme(scheme))
    report = quantization_report(quantized)
    logging.info("tfbig.quantize.qat(%s): %s", model.name, report.summary())
    return quantized
