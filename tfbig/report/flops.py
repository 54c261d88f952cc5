"""Analytic FLOP counts for tf_keras models, per layer and in total.

Convention (forward pass, inference, **one example**, i.e. batch size 1):

- **1 multiply-add (MAC) = 2 FLOPs.** Dense, Conv1D/2D/3D (grouped too),
  Conv*Transpose, DepthwiseConv, SeparableConv, EinsumDense and the matrix
  products inside MultiHeadAttention cost ``2 * MACs``. ``macs = flops_mac_part / 2``
  is therefore exact for those layers.
- A bias add is 1 FLOP per output element; a fused non-linear ``activation=``
  is 1 FLOP per output element.
- Element-wise layers cost a fixed number of FLOPs per element:
  activations (ReLU, Activation, LeakyReLU, ELU, PReLU ...) 1, Softmax 3
  (exp, sum, divide), BatchNormalization 2 (inference: folded scale and
  shift), LayerNormalization 7 (mean 1, centre 1, variance 2, normalise 1,
  scale and shift 2), Rescaling 2; merges (Add, Subtract, Multiply, Maximum,
  Minimum) ``inputs - 1`` per output element, Average one more (the divide).
- Pooling: ``prod(pool_size)`` per output element (compares or adds);
  global pooling: 1 per input element.
- Free (0): Input, Flatten, Reshape, Permute, Dropout and noise layers,
  padding, cropping, upsampling, Concatenate, Embedding (a table lookup),
  tfmot's QuantizeLayer.
- MultiHeadAttention: its four projections (EinsumDense rules, with biases)
  + ``2 * heads * Tq * Tk * (key_dim + value_dim)`` for scores and context
  + softmax ``3 * heads * Tq * Tk``.

``sparse=True`` counts only the multiply-adds of **non-zero** weights (what a
sparse kernel would execute): exact for pruned models.
Layers without a rule get ``None`` (logged once); add rules with
:func:`register_flops`.
"""

import math

import numpy as np
from absl import logging

from tfbig._backend import check_model
from tfbig._backend import keras
from tfbig.report._walk import layer_calls

__all__ = ["count_flops", "flops_per_layer", "register_flops"]

_RULES = {}
_DEFAULTS = []
_WARNED = set()


def register_flops(layer_class, fn):
    """Registers how many FLOPs one call of a layer class costs.

    Args:
        layer_class: a tf_keras ``Layer`` subclass, or a class name string
            (matched on ``type(layer).__name__``).
        fn: ``fn(layer, input_shapes, output_shapes, sparse) -> int``; shapes
            have a ``None`` batch dimension; ``input_shapes`` is one shape
            tuple for single-input layers, else a list of them.

    Example:

    >>> from tfbig import keras
    >>> class Double(keras.layers.Layer):
    ...     def call(self, x):
    ...         return 2.0 * x
    >>> register_flops(Double, lambda layer, i, o, sparse: _elements(o))
    >>> inp = keras.Input((3,))
    >>> count_flops(keras.Model(inp, Double()(inp)))
    3
    """
    if not (isinstance(layer_class, str) or isinstance(layer_class, type)):
        raise TypeError(
            "`layer_class` must be a Layer class or a class name string. "
            f"Received: layer_class={layer_class!r}"
        )
    if not callable(fn):
        raise TypeError(f"`fn` must be callable. Received: fn={fn!r}")
    _RULES[layer_class] = fn


def _elements(shape):
    """Elements of one example: the product of a shape without its batch dim."""
    return math.prod(int(d) if d is not None else 1 for d in shape[1:])


def _nnz(variable, sparse):
    """Size of a weight, or its non-zero count when ``sparse``.

    A kernel that is not a variable (tfmot's quantize wrapper swaps in a
    fake-quantized tensor) counts as dense.
    """
    import tensorflow as tf

    if not sparse or not isinstance(variable, tf.Variable):
        return int(np.prod(variable.shape))
    return int(np.count_nonzero(keras.backend.get_value(variable)))


def _first(shapes):
    return shapes[0] if isinstance(shapes, list) else shapes


def _is_nonlinear(activation):
    # tfmot's QuantizeAwareActivation keeps the original in `.activation`.
    activation = getattr(activation, "activation", activation)
    return activation is not None and getattr(activation, "__name__", "") != "linear"


def _fused_extras(layer, out_elements):
    extra = out_elements if getattr(layer, "use_bias", False) else 0
    if _is_nonlinear(getattr(layer, "activation", None)):
        extra += out_elements
    return extra


def _channels(layer, shape):
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return int(shape[1])
    return int(shape[-1])


def _dense(layer, inputs, outputs, sparse):
    out = _elements(outputs)
    positions = out // int(outputs[-1])
    return 2 * positions * _nnz(layer.kernel, sparse) + _fused_extras(layer, out)


def _conv(layer, inputs, outputs, sparse):
    out = _elements(outputs)
    positions = out // _channels(layer, outputs)
    kernel = getattr(layer, "depthwise_kernel", None)
    kernel = layer.kernel if kernel is None else kernel
    return 2 * positions * _nnz(kernel, sparse) + _fused_extras(layer, out)


def _conv_transpose(layer, inputs, outputs, sparse):
    inputs = _first(inputs)
    positions = _elements(inputs) // _channels(layer, inputs)
    out = _elements(outputs)
    return 2 * positions * _nnz(layer.kernel, sparse) + _fused_extras(layer, out)


def _separable(layer, inputs, outputs, sparse):
    out = _elements(outputs)
    positions = out // _channels(layer, outputs)
    macs = positions * (
        _nnz(layer.depthwise_kernel, sparse) + _nnz(layer.pointwise_kernel, sparse)
    )
    return 2 * macs + _fused_extras(layer, out)


def _einsum_cost(equation, input_shape, kernel, sparse):
    """``(macs, output_elements)`` of an EinsumDense on one example."""
    lhs, out_spec = equation.split("->")
    in_spec, kernel_spec = lhs.split(",")
    sizes = {}
    free = 1
    shape = list(input_shape)
    if "..." in in_spec:
        n_free = len(shape) - len(in_spec.replace("...", ""))
        free = math.prod(int(d) if d is not None else 1 for d in shape[1:n_free])
        shape = shape[n_free:]
        in_spec = in_spec.replace("...", "")
    else:
        shape[0] = 1  # the batch letter
    for letter, dim in zip(in_spec, shape):
        sizes[letter] = int(dim) if dim is not None else 1
    for letter, dim in zip(kernel_spec, kernel.shape):
        sizes[letter] = int(dim)
    total = free * math.prod(sizes.values())
    density = _nnz(kernel, sparse) / max(int(np.prod(kernel.shape)), 1)
    out_elements = free * math.prod(sizes[c] for c in out_spec.replace("...", ""))
    return int(round(total * density)), out_elements


def _einsum_dense(layer, inputs, outputs, sparse):
    macs, out = _einsum_cost(layer.equation, _first(inputs), layer.kernel, sparse)
    extra = out if getattr(layer, "bias", None) is not None else 0
    if _is_nonlinear(getattr(layer, "activation", None)):
        extra += out
    return 2 * macs + extra


def _attention(layer, inputs, outputs, sparse):
    query, key, value = layer._query_shape, layer._key_shape, layer._value_shape
    heads, key_dim = layer._num_heads, layer._key_dim
    value_dim = layer._value_dim or key_dim
    t_q = _elements(query) // int(query[-1])
    t_k = _elements(key) // int(key[-1])
    flops = 0
    for dense, shape in (
        (layer._query_dense, query),
        (layer._key_dense, key),
        (layer._value_dense, value),
        (layer._output_dense, (None, *query[1:-1], heads, value_dim)),
    ):
        flops += _einsum_dense(dense, shape, None, sparse)
    flops += 2 * heads * t_q * t_k * (key_dim + value_dim)
    return flops + 3 * heads * t_q * t_k


def _per_element(cost):
    return lambda layer, inputs, outputs, sparse: cost * _elements(outputs)


def _merge(layer, inputs, outputs, sparse):
    extra = 1 if isinstance(layer, keras.layers.Average) else 0
    return (len(inputs) - 1 + extra) * _elements(outputs)


def _pool(layer, inputs, outputs, sparse):
    return math.prod(layer.pool_size) * _elements(outputs)


def _global_pool(layer, inputs, outputs, sparse):
    return _elements(_first(inputs))


def _activation(layer, inputs, outputs, sparse):
    name = getattr(layer.activation, "__name__", "")
    if name == "linear":
        return 0
    return (3 if name == "softmax" else 1) * _elements(outputs)


def _free(layer, inputs, outputs, sparse):
    return 0


def _default_rules():
    L = keras.layers
    rules = {
        L.Dense: _dense,
        L.Conv1D: _conv, L.Conv2D: _conv, L.Conv3D: _conv,
        L.Conv1DTranspose: _conv_transpose, L.Conv2DTranspose: _conv_transpose,
        L.Conv3DTranspose: _conv_transpose,
        L.DepthwiseConv2D: _conv, L.DepthwiseConv1D: _conv,
        L.SeparableConv1D: _separable, L.SeparableConv2D: _separable,
        L.EinsumDense: _einsum_dense, L.MultiHeadAttention: _attention,
        L.BatchNormalization: _per_element(2), L.LayerNormalization: _per_element(7),
        L.Rescaling: _per_element(2),
        L.ReLU: _per_element(1), L.LeakyReLU: _per_element(1), L.ELU: _per_element(1),
        L.PReLU: _per_element(1), L.ThresholdedReLU: _per_element(1),
        L.Softmax: _per_element(3), L.Activation: _activation,
        L.Add: _merge, L.Subtract: _merge, L.Multiply: _merge, L.Maximum: _merge,
        L.Minimum: _merge, L.Average: _merge,
        L.MaxPooling1D: _pool, L.MaxPooling2D: _pool, L.MaxPooling3D: _pool,
        L.AveragePooling1D: _pool, L.AveragePooling2D: _pool, L.AveragePooling3D: _pool,
        L.GlobalAveragePooling1D: _global_pool, L.GlobalAveragePooling2D: _global_pool,
        L.GlobalMaxPooling1D: _global_pool, L.GlobalMaxPooling2D: _global_pool,
        "PositionEmbedding": _per_element(1),
        "QuantizeLayer": _free,
    }
    for free in (
        "InputLayer", "Flatten", "Reshape", "Permute", "Dropout", "SpatialDropout1D",
        "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
        "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
        "UpSampling1D", "UpSampling2D", "Concatenate", "Embedding", "RepeatVector",
        "ActivityRegularization", "Identity",
    ):
        rules[free] = _free
    return rules


def _rule_for(layer):
    if not _DEFAULTS:
        _DEFAULTS.append(True)
        for key, fn in _default_rules().items():
            _RULES.setdefault(key, fn)
    for cls in type(layer).__mro__:
        if cls in _RULES:
            return _RULES[cls]
        if cls.__name__ in _RULES:
            return _RULES[cls.__name__]
    return None


def flops_per_layer(model, sparse=False):
    """FLOPs of each layer of a Sequential or functional model, for one example.

    See the module docstring for the convention (1 multiply-add = 2 FLOPs).
    Wrapped layers (pruning, quantization) are counted as the layer they wrap;
    nested models contribute ``"outer/inner"`` entries; a layer called twice
    counts twice.

    Args:
        model: a built tf_keras Sequential or functional model.
        sparse: count only the multiply-adds of non-zero weights.
            Defaults to ``False``.

    Returns:
        A dict ``layer name -> FLOPs`` in layer order; ``None`` for a layer
        class without a rule (see :func:`register_flops`).

    Raises:
        TypeError: for a Keras 3 or subclassed model.

    Example:

    >>> from tfbig import keras
    >>> inp = keras.Input((4,))
    >>> out = keras.layers.Dense(3, activation="relu", name="d")(inp)
    >>> flops_per_layer(keras.Model(inp, out))  # 2*4*3 MACs + 3 bias + 3 relu
    {'d': 30}
    """
    check_model(model, allow_subclassed=False)
    result = {}
    for name, layer, inputs, outputs in layer_calls(model):
        rule = _rule_for(layer)
        if rule is None:
            if type(layer).__name__ not in _WARNED:
                _WARNED.add(type(layer).__name__)
                logging.warning(
                    "tfbig.report: no FLOP rule for layer class %s (layer %r); it is "
                    "left out of the total. Add one with "
                    "tfbig.report.register_flops.", type(layer).__name__, name,
                )
            result.setdefault(name, None)
            continue
        flops = int(rule(layer, inputs, outputs, sparse))
        previous = result.get(name)
        result[name] = flops if previous is None else previous + flops
    return result


def count_flops(model, sparse=False):
    """Total FLOPs of one forward pass of one example (1 multiply-add = 2 FLOPs).

    Args:
        model: a built tf_keras Sequential or functional model.
        sparse: count only the multiply-adds of non-zero weights.
            Defaults to ``False``.

    Returns:
        An ``int``: the sum of :func:`flops_per_layer` (layers without a rule
        are left out).

    Example:

    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(2, use_bias=False, input_shape=(5,))])
    >>> count_flops(m)
    20
    """
    return sum(f for f in flops_per_layer(model, sparse=sparse).values() if f)
