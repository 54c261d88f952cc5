"""A MultiHeadAttention that quantization-aware training can see inside."""

import math

import tensorflow as tf

from tfbig._backend import keras
from tfbig._backend import register_serializable

__all__ = ["QuantizableMultiHeadAttention", "ATTENTION_ACTIVATION_ATTRS"]

# Identity hooks inside the attention maths; QAT replaces each with a fake-quant
# so the two batched matmuls and the softmax get int8 ranges.
_HOOKS = ("scaled_query_quant", "scores_quant", "probs_quant", "context_quant")
ATTENTION_ACTIVATION_ATTRS = (
    "_query_dense.activation",
    "_key_dense.activation",
    "_value_dense.activation",
    *_HOOKS,
    "_output_dense.activation",
)


@register_serializable()
class QuantizableMultiHeadAttention(keras.layers.MultiHeadAttention):
    """``MultiHeadAttention`` taking one input (or a list) and exposing its maths.

    The same computation and weights as ``keras.layers.MultiHeadAttention``, with
    two differences that let tfmot's ``QuantizeWrapper`` handle it: ``call``
    takes a single argument (a tensor for self-attention or a list
    ``[query, value]`` / ``[query, value, key]``), and the scaled query, the
    attention scores, the softmax probabilities and the context pass through
    identity hooks that QAT turns into fake-quantizers. ``tfbig.quantize.qat``
    swaps it in automatically; you rarely build one by hand.

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head for query and key.
        use_causal_mask: apply a causal mask (what ``use_causal_mask=True`` at
            call time does for ``MultiHeadAttention``). Defaults to ``False``.
        **kwargs: the other ``MultiHeadAttention`` arguments.

    Example:

    >>> import numpy as np
    >>> layer = QuantizableMultiHeadAttention(num_heads=2, key_dim=4)
    >>> layer(np.zeros((1, 3, 8), "float32")).shape
    TensorShape([1, 3, 8])
    """

    def __init__(self, num_heads, key_dim, use_causal_mask=False, **kwargs):
        super().__init__(num_heads, key_dim, **kwargs)
        self.use_causal_mask = bool(use_causal_mask)
        for hook in _HOOKS:
            setattr(self, hook, keras.activations.linear)

    @staticmethod
    def _split(inputs):
        if isinstance(inputs, (list, tuple)):
            if not 1 <= len(inputs) <= 3:
                raise ValueError(
                    "QuantizableMultiHeadAttention takes [query], [query, value] or "
                    f"[query, value, key]. Received: {len(inputs)} inputs"
                )
            query = inputs[0]
            value = inputs[1] if len(inputs) > 1 else query
            key = inputs[2] if len(inputs) > 2 else None
            return query, value, key
        return inputs, inputs, None

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(
            input_shape[0], (list, tuple, tf.TensorShape)
        ):
            shapes = [tf.TensorShape(s) for s in input_shape]
        else:
            shapes = [tf.TensorShape(input_shape)]
        query, value, key = self._split(shapes)
        if not self._built_from_signature:
            self._build_from_signature(query=query, value=value, key=key)
        self.built = True

    def _build_from_signature(self, query, value, key=None):
        super()._build_from_signature(query, value, key=key)
        # Build the projections now, not at first call, so that their kernels
        # exist (in a fixed order) when a QuantizeWrapper asks for them, both
        # when QAT wraps the layer and when a saved QAT model is loaded.
        context = self._query_shape[:-1].concatenate([self._num_heads, self._value_dim])
        for dense, shape in (
            (self._query_dense, self._query_shape),
            (self._key_dense, self._key_shape),
            (self._value_dense, self._value_shape),
            (self._output_dense, context),
        ):
            if not dense.built:
                with tf.name_scope(dense.name):  # as a first call would name them
                    dense.build(shape)

    def call(self, inputs, training=None):
        query, value, key = self._split(inputs)
        # QAT's wrapper hands each call its fake-quantized kernels by setting
        # ``<projection>.kernel`` on these (shared) sublayers just before calling
        # this layer. Under a multi-replica strategy the replicas trace this call
        # in turns, on one Python object, and the activation fake-quants between
        # the projections synchronise the replicas (an all-reduce), which lets
        # the next replica overwrite the kernels with its own before this one has
        # used them. So pin, in locals, the kernels this call started with and put
        # them back right before each projection runs. Otherwise this is
        # ``MultiHeadAttention.call`` for dense inputs.
        projections = (self._query_dense, self._key_dense, self._value_dense, self._output_dense)
        pinned = {id(dense): dense.kernel for dense in projections if dense.built}

        def project(dense, x):
            kernel = pinned.get(id(dense))
            if kernel is not None and dense.kernel is not kernel:
                dense.kernel = kernel
            return dense(x)

        if any(isinstance(t, tf.RaggedTensor) for t in (query, value, key)):
            return super().call(
                query, value, key=key, training=training, use_causal_mask=self.use_causal_mask
            )
        if not self._built_from_signature:
            self._build_from_signature(query=query, value=value, key=key)
        if key is None:
            key = value
        attention_mask = self._compute_attention_mask(
            query, value, key=key, use_causal_mask=self.use_causal_mask
        )
        query = project(self._query_dense, query)
        key = project(self._key_dense, key)
        value = project(self._value_dense, value)
        output, _ = self._compute_attention(query, key, value, attention_mask, training)
        return project(self._output_dense, output)

    def _compute_attention(self, query, key, value, attention_mask=None, training=None):
        query = self.scaled_query_quant(
            tf.multiply(query, 1.0 / math.sqrt(float(self._key_dim)))
        )
        scores = self.scores_quant(tf.einsum(self._dot_product_equation, key, query))
        probs = self.probs_quant(self._masked_softmax(scores, attention_mask))
        dropped = self._dropout_layer(probs, training=training)
        context = self.context_quant(tf.einsum(self._combine_equation, dropped, value))
        return context, probs

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(
            input_shape[0], (list, tuple, tf.TensorShape)
        ):
            return super().compute_output_shape(*self._split(input_shape))
        return super().compute_output_shape(input_shape, input_shape)

    def get_config(self):
        config = super().get_config()
        config["use_causal_mask"] = self.use_causal_mask
        return config
