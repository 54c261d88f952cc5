"""Built-in surgeons for the tf_keras layers that create, pass or couple channels."""

import numpy as np

from tfbig._backend import keras
from tfbig.prune.structured._registry import Slice
from tfbig.prune.structured._registry import Surgeon
from tfbig.prune.structured._registry import register_surgeon

L = keras.layers
_COUPLING_ACTIVATIONS = ("softmax", "log_softmax")


def _activation_name(layer):
    fn = getattr(layer, "activation", None)
    return getattr(fn, "__name__", str(fn))


def _channels_first(layer):
    return getattr(layer, "data_format", "channels_last") == "channels_first"


def _rank(variable):
    return len(variable.shape)


class PassThroughSurgeon(Surgeon):
    """Channel-wise layers (activations, dropout, padding, pooling): map unchanged."""

    def propagate(self, ctx):
        if _channels_first(ctx.layer):
            ctx.pin(ctx.inputs[0], "data_format='channels_first' is not supported")
            return [ctx.fixed(s[-1]) for s in ctx.output_shapes]
        if _activation_name(ctx.layer) in _COUPLING_ACTIVATIONS:
            ctx.pin(ctx.inputs[0], "its softmax mixes every channel")
        return [ctx.inputs[0] for _ in ctx.output_shapes]


class SoftmaxSurgeon(PassThroughSurgeon):
    """``Softmax``: channel-wise unless it normalizes over the channel axis."""

    def propagate(self, ctx):
        axes = np.atleast_1d(ctx.layer.axis)
        rank = len(ctx.input_shapes[0])
        if any(a % rank == rank - 1 for a in axes):
            ctx.pin(ctx.inputs[0], "its softmax mixes every channel")
        return [ctx.inputs[0]]


class PReLUSurgeon(PassThroughSurgeon):
    """``PReLU``: slices ``alpha`` on the channel axis unless it is shared."""

    def slices(self, layer, state):
        if layer.alpha.shape[-1] > 1:
            return [Slice("in", layer.alpha, _rank(layer.alpha) - 1)]
        return []


class RescalingSurgeon(PassThroughSurgeon):
    """``Rescaling``: channel-wise when ``scale`` and ``offset`` are scalars."""

    def propagate(self, ctx):
        if np.size(ctx.layer.scale) > 1 or np.size(ctx.layer.offset) > 1:
            ctx.pin(ctx.inputs[0], "per-channel scale/offset is not supported")
        return [ctx.inputs[0]]


class ProducerSurgeon(Surgeon):
    """Base of layers that create their output channels (Dense, Conv, Embedding)."""

    units_key = "units"

    def propagate(self, ctx):
        out = ctx.new_atoms(ctx.output_shapes[0][-1])
        if _channels_first(ctx.layer):
            ctx.pin(ctx.inputs[0], "data_format='channels_first' is not supported")
            ctx.pin(out, "data_format='channels_first' is not supported")
        elif _activation_name(ctx.layer) in _COUPLING_ACTIVATIONS:
            ctx.pin(out, "its softmax activation mixes every channel")
        return [out]

    def config(self, layer, cut):
        config = layer.get_config()
        config[self.units_key] = int(cut.outputs[0].sum())
        return config


class DenseSurgeon(ProducerSurgeon):
    """``Dense``: kernel ``(in, out)``; works on any rank (last axis)."""

    def slices(self, layer, state):
        out = [Slice("in", layer.kernel, 0), Slice("out", layer.kernel, 1)]
        if layer.use_bias:
            out.append(Slice("out", layer.bias, 0))
        return out


class ConvSurgeon(ProducerSurgeon):
    """``Conv1D/2D/3D``: kernel ``(*k, in, out)``; grouped convs stay intact."""

    units_key = "filters"
    transpose = False

    def propagate(self, ctx):
        if getattr(ctx.layer, "groups", 1) > 1:
            out = ctx.new_atoms(ctx.output_shapes[0][-1])
            reason = f"grouped convolution (groups={ctx.layer.groups})"
            ctx.pin(ctx.inputs[0], reason)
            ctx.pin(out, reason)
            return [out]
        return super().propagate(ctx)

    def slices(self, layer, state):
        r = _rank(layer.kernel)
        in_axis, out_axis = (r - 1, r - 2) if self.transpose else (r - 2, r - 1)
        out = [Slice("in", layer.kernel, in_axis), Slice("out", layer.kernel, out_axis)]
        if layer.use_bias:
            out.append(Slice("out", layer.bias, 0))
        return out


class ConvTransposeSurgeon(ConvSurgeon):
    """``Conv1D/2D/3DTranspose``: kernel ``(*k, out, in)``."""

    transpose = True


class DepthwiseSurgeon(Surgeon):
    """``DepthwiseConv1D/2D``: channel ``c`` becomes outputs ``c*m .. c*m+m-1``."""

    def propagate(self, ctx):
        if _channels_first(ctx.layer):
            ctx.pin(ctx.inputs[0], "data_format='channels_first' is not supported")
            return [ctx.fixed(ctx.output_shapes[0][-1])]
        return [np.repeat(ctx.inputs[0], ctx.layer.depth_multiplier)]

    def slices(self, layer, state):
        kernel = layer.depthwise_kernel
        out = [Slice("in", kernel, _rank(kernel) - 2)]
        if layer.use_bias:
            out.append(Slice("out", layer.bias, 0))
        return out


class SeparableConvSurgeon(ConvSurgeon):
    """``SeparableConv1D/2D``: depthwise on the inputs, pointwise makes outputs."""

    def slices(self, layer, state):
        dw, pw = layer.depthwise_kernel, layer.pointwise_kernel
        out = [Slice("in", dw, _rank(dw) - 2), Slice("out", pw, _rank(pw) - 1)]
        if layer.use_bias:
            out.append(Slice("out", layer.bias, 0))
        return out

    def weights(self, layer, cut):
        new = super().weights(layer, cut)
        keep = np.flatnonzero(np.repeat(cut.inputs[0], layer.depth_multiplier))
        names = [w.name for w in layer.weights]
        i = next(i for i, n in enumerate(names) if "pointwise_kernel" in n)
        new[i] = np.take(new[i], keep, axis=new[i].ndim - 2)
        return new


class BatchNormalizationSurgeon(Surgeon):
    """``BatchNormalization`` over the last axis: slices gamma, beta and moving stats."""

    def propagate(self, ctx):
        rank = len(ctx.input_shapes[0])
        axes = [a % rank for a in np.atleast_1d(ctx.layer.axis)]
        if axes != [rank - 1]:
            ctx.pin(ctx.inputs[0], f"normalizes over axis {ctx.layer.axis}, not the last")
        return [ctx.inputs[0]]

    def slices(self, layer, state):
        out = []
        if layer.gamma is not None:
            out.append(Slice("in", layer.gamma, 0, "scale"))
        if layer.beta is not None:
            out.append(Slice("in", layer.beta, 0, "shift"))
        out.append(Slice("in", layer.moving_mean, 0, "stat"))
        out.append(Slice("in", layer.moving_variance, 0, "stat"))
        return out


class LayerNormalizationSurgeon(Surgeon):
    """``LayerNormalization``: passes channels but pins them.

    Its mean and variance run over every channel, so removing even an all-zero
    channel changes the other outputs; the channels it normalizes are left
    intact (in a transformer: the residual stream), heads and hidden units of
    the feed-forward still prune.
    """

    def propagate(self, ctx):
        ctx.pin(ctx.inputs[0], "LayerNormalization statistics span every channel")
        return [ctx.inputs[0]]

    def slices(self, layer, state):
        out = []
        if layer.gamma is not None:
            out.append(Slice("in", layer.gamma, 0, "scale"))
        if layer.beta is not None:
            out.append(Slice("in", layer.beta, 0, "shift"))
        return out


class EmbeddingSurgeon(ProducerSurgeon):
    """``Embedding``: table ``(vocab, output_dim)``; its input ids are no channels."""

    units_key = "output_dim"

    def slices(self, layer, state):
        return [Slice("out", layer.embeddings, 1)]


class MultiHeadAttentionSurgeon(Surgeon):
    """``MultiHeadAttention``: removes whole heads; query/key/value inputs and
    the output projection's channels follow their own groups."""

    def propagate(self, ctx):
        roles = ctx.call_arguments()
        state = ctx.state
        state["query"] = roles["query"]
        state["value"] = roles["value"]
        state["key"] = roles.get("key", roles["value"])
        state["num_inputs"] = len(ctx.inputs)
        ctx.new_atoms(ctx.layer._num_heads, tag="head")
        return [ctx.new_atoms(ctx.output_shapes[0][-1])] + [
            ctx.fixed(s[-1]) for s in ctx.output_shapes[1:]
        ]

    def slices(self, layer, state):
        out = []
        for role, dense in (
            ("query", layer._query_dense),
            ("key", layer._key_dense),
            ("value", layer._value_dense),
        ):
            out += [Slice(("in", state[role]), dense.kernel, 0), Slice("head", dense.kernel, 1)]
            if dense.bias is not None:
                out.append(Slice("head", dense.bias, 0))
        dense = layer._output_dense
        out += [Slice("head", dense.kernel, 0), Slice("out", dense.kernel, 2)]
        if dense.bias is not None:
            out.append(Slice("out", dense.bias, 0))
        return out

    def config(self, layer, cut):
        config = layer.get_config()
        config["num_heads"] = int(cut.heads.sum())
        if config.get("output_shape") is None:
            config["output_shape"] = int(cut.outputs[0].sum())
        elif np.ndim(config["output_shape"]) == 0:
            config["output_shape"] = int(cut.outputs[0].sum())
        for role in ("query", "key", "value"):
            shape = config.get(f"{role}_shape")
            if shape is not None:
                shape = list(shape)
                shape[-1] = int(cut.inputs[cut.state[role]].sum())
                config[f"{role}_shape"] = shape
        return config


class MergeSurgeon(Surgeon):
    """``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum``:
    channel ``c`` of every input is one channel (they are removed together)."""

    def propagate(self, ctx):
        width = ctx.output_shapes[0][-1]
        full = [m for m in ctx.inputs if len(m) == width]
        for other in full[1:]:
            ctx.union(full[0], other)
        return [full[0]]


class ConcatenateSurgeon(Surgeon):
    """``Concatenate``: along the channel axis the maps are joined, otherwise coupled."""

    def propagate(self, ctx):
        rank = len(ctx.output_shapes[0])
        if ctx.layer.axis % rank == rank - 1:
            return [np.concatenate(ctx.inputs)]
        return MergeSurgeon().propagate(ctx)

    def config(self, layer, cut):
        return layer.get_config()


class FlattenSurgeon(Surgeon):
    """``Flatten``: output index ``p * C + c`` holds channel ``c`` of position ``p``."""

    def propagate(self, ctx):
        shape = ctx.input_shapes[0]
        if _channels_first(ctx.layer) and len(shape) > 2:
            ctx.pin(ctx.inputs[0], "data_format='channels_first' is not supported")
            return [ctx.fixed(ctx.output_shapes[0][-1])]
        if any(d is None for d in shape[1:]):
            ctx.pin(ctx.inputs[0], "its input has unknown spatial dimensions")
            return [ctx.fixed(ctx.output_shapes[0][-1])]
        return [np.tile(ctx.inputs[0], int(np.prod(shape[1:-1], dtype=np.int64)))]


class ReshapeSurgeon(Surgeon):
    """``Reshape``: supported when the new last axis is a whole number of channel rows."""

    def propagate(self, ctx):
        c_in, c_out = ctx.input_shapes[0][-1], ctx.output_shapes[0][-1]
        if c_in is None or c_out is None or c_out % c_in:
            ctx.pin(ctx.inputs[0], f"it reshapes the channel axis ({c_in} -> {c_out})")
            return [ctx.fixed(c_out or 0)]
        return [np.tile(ctx.inputs[0], c_out // c_in)]

    def config(self, layer, cut):
        config = layer.get_config()
        target = list(config["target_shape"])
        target[-1] = int(cut.outputs[0].sum())
        config["target_shape"] = tuple(target)
        return config


class PermuteSurgeon(Surgeon):
    """``Permute``: channel-wise only if the last axis stays last."""

    def propagate(self, ctx):
        dims = ctx.layer.dims
        if dims[-1] != len(dims):
            ctx.pin(ctx.inputs[0], "it moves the channel axis")
            return [ctx.fixed(ctx.output_shapes[0][-1])]
        return [ctx.inputs[0]]


_PASS = [
    "Activation", "ReLU", "LeakyReLU", "ELU", "ThresholdedReLU", "Dropout",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "MaxPooling1D", "MaxPooling2D",
    "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "RepeatVector",
]
_BUILTIN = [(name, PassThroughSurgeon()) for name in _PASS] + [
    ("Softmax", SoftmaxSurgeon()),
    ("PReLU", PReLUSurgeon()),
    ("Rescaling", RescalingSurgeon()),
    ("Dense", DenseSurgeon()),
    ("Conv1D", ConvSurgeon()),
    ("Conv2D", ConvSurgeon()),
    ("Conv3D", ConvSurgeon()),
    ("Conv1DTranspose", ConvTransposeSurgeon()),
    ("Conv2DTranspose", ConvTransposeSurgeon()),
    ("Conv3DTranspose", ConvTransposeSurgeon()),
    ("DepthwiseConv1D", DepthwiseSurgeon()),
    ("DepthwiseConv2D", DepthwiseSurgeon()),
    ("SeparableConv1D", SeparableConvSurgeon()),
    ("SeparableConv2D", SeparableConvSurgeon()),
    ("BatchNormalization", BatchNormalizationSurgeon()),
    ("LayerNormalization", LayerNormalizationSurgeon()),
    ("Embedding", EmbeddingSurgeon()),
    ("MultiHeadAttention", MultiHeadAttentionSurgeon()),
    ("Add", MergeSurgeon()),
    ("Subtract", MergeSurgeon()),
    ("Multiply", MergeSurgeon()),
    ("Average", MergeSurgeon()),
    ("Maximum", MergeSurgeon()),
    ("Minimum", MergeSurgeon()),
    ("Concatenate", ConcatenateSurgeon()),
    ("Flatten", FlattenSurgeon()),
    ("Reshape", ReshapeSurgeon()),
    ("Permute", PermuteSurgeon()),
]
for _name, _surgeon in _BUILTIN:
    if hasattr(L, _name):
        register_surgeon(getattr(L, _name), _surgeon)


class _PositionEmbeddingSurgeon(Surgeon):
    """tfbig's ``PositionEmbedding``: adds a ``(length, dim)`` table channel-wise."""

    def slices(self, layer, state):
        return [Slice("in", layer.embeddings, 1)]


def _register_tfbig_layers():
    from tfbig.models import PositionEmbedding

    register_surgeon(PositionEmbedding, _PositionEmbeddingSurgeon())


_register_tfbig_layers()
