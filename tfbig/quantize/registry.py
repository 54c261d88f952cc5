"""Which ``QuantizeConfig`` tfbig gives each layer class that tfmot does not cover.

tfmot's default 8-bit registry handles Conv/Dense/BatchNormalization/ReLU/Add/
pooling and the shape layers. This registry adds the transformer pieces:
attention (its four EinsumDense projections and the attention maths),
standalone ``EinsumDense``, ``LayerNormalization``, element-wise ``Multiply`` /
``Subtract``, and the position embedding of ``tfbig.models.transformer``.
"""

from tfbig.quantize.attention import ATTENTION_ACTIVATION_ATTRS
from tfbig.quantize.configs import LayerQuantizeConfig

__all__ = ["tfbig_quantize_config", "TFBIG_QUANTIZABLE"]

_ATTENTION_KERNELS = (
    "_query_dense.kernel",
    "_key_dense.kernel",
    "_value_dense.kernel",
    "_output_dense.kernel",
)
_SUPPORTED_ACTIVATIONS = ("linear", "relu", "gelu", "swish", "softmax", "sigmoid", "tanh")


def _attention(layer, preserve_sparsity):
    return LayerQuantizeConfig(
        weight_attrs=_ATTENTION_KERNELS,
        activation_attrs=ATTENTION_ACTIVATION_ATTRS,
        preserve_sparsity=preserve_sparsity,
    )


def _einsum_dense(layer, preserve_sparsity):
    if getattr(layer.activation, "__name__", None) not in _SUPPORTED_ACTIVATIONS:
        return None
    return LayerQuantizeConfig(
        weight_attrs=("kernel",),
        activation_attrs=("activation",),
        preserve_sparsity=preserve_sparsity,
    )


def _output_only(layer, preserve_sparsity):
    return LayerQuantizeConfig(quantize_output=True)


# Class name -> factory(layer, preserve_sparsity) -> LayerQuantizeConfig or None.
TFBIG_QUANTIZABLE = {
    "QuantizableMultiHeadAttention": _attention,
    "EinsumDense": _einsum_dense,
    "LayerNormalization": _output_only,
    "Multiply": _output_only,
    "Subtract": _output_only,
    "PositionEmbedding": _output_only,
}


def tfbig_quantize_config(layer, preserve_sparsity=False):
    """The tfbig ``QuantizeConfig`` for ``layer``, or ``None`` if tfbig has none.

    Args:
        layer: a tf_keras layer.
        preserve_sparsity: keep weight zeros through QAT. Defaults to ``False``.

    Returns:
        A :class:`LayerQuantizeConfig`, or ``None``.

    Example:

    >>> from tfbig import keras
    >>> tfbig_quantize_config(keras.layers.LayerNormalization()).quantize_output
    True
    """
    factory = TFBIG_QUANTIZABLE.get(type(layer).__name__)
    return factory(layer, preserve_sparsity) if factory else None
