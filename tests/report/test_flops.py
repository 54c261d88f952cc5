"""FLOP counts checked against hand computation (1 multiply-add = 2 FLOPs)."""

import numpy as np
import pytest

from tfbig import keras
from tfbig.report import count_flops
from tfbig.report import flops_per_layer
from tfbig.report import register_flops


@pytest.fixture(scope="module")
def conv_model():
    inp = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, name="conv")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False, name="dw")(x)
    x = keras.layers.SeparableConv2D(5, 1, name="sep")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2DTranspose(3, 2, strides=2, use_bias=False, name="convt")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(7, activation="relu", name="fc")(x)
    return keras.Model(inp, out)


def test_conv_layers_match_hand_computation(conv_model):
    expected = {
        "conv": 2 * 16 * (3 * 3 * 2 * 4) + 4 * 4 * 4,  # 16 positions, + bias
        "dw": 2 * 16 * (3 * 3 * 4 * 2),
        "sep": 2 * 16 * (8 + 8 * 5) + 16 * 5,
        "bn": 2 * 16 * 5,
        "convt": 2 * 16 * (2 * 2 * 3 * 5),  # every input pixel scatters the kernel
        "pool": 4 * (4 * 4 * 3),
        "gap": 4 * 4 * 3,
        "fc": 2 * 3 * 7 + 7 + 7,  # MACs, bias, relu
    }
    got = flops_per_layer(conv_model)
    assert got == expected
    assert count_flops(conv_model) == sum(expected.values()) == 8664


def test_sequence_layers_match_hand_computation():
    inp = keras.Input((5,), dtype="int32")
    emb = keras.layers.Embedding(20, 6, name="emb")(inp)
    att = keras.layers.MultiHeadAttention(2, 3, name="mha")(emb, emb)
    x = keras.layers.Add(name="add")([emb, att])
    x = keras.layers.LayerNormalization(name="ln")(x)
    x = keras.layers.Conv1D(4, 2, name="conv1d")(x)
    out = keras.layers.Flatten(name="flat")(x)
    model = keras.Model(inp, out)
    projection = 2 * 5 * (6 * 2 * 3) + 5 * 2 * 3  # per token 6x(2x3) MACs + bias
    expected = {
        "emb": 0,
        "mha": 4 * projection + 2 * 2 * 5 * 5 * (3 + 3) + 3 * 2 * 5 * 5,
        "add": 5 * 6,
        "ln": 7 * 5 * 6,
        "conv1d": 2 * 4 * (2 * 6 * 4) + 4 * 4,
        "flat": 0,
    }
    assert flops_per_layer(model) == expected
    assert count_flops(model) == 2950


def test_sparse_flops_count_only_nonzero_weights():
    inp = keras.Input((4,))
    out = keras.layers.Dense(3, use_bias=False, name="d")(inp)
    model = keras.Model(inp, out)
    kernel = np.zeros((4, 3), "float32")
    kernel[0, 0] = kernel[1, 2] = kernel[3, 1] = 1.0
    model.get_layer("d").kernel.assign(kernel)
    assert count_flops(model) == 24
    assert count_flops(model, sparse=True) == 6


def test_wrapped_and_nested_models_count_like_plain(conv_model):
    import tensorflow_model_optimization as tfmot

    pruned = tfmot.sparsity.keras.prune_low_magnitude(conv_model)
    assert count_flops(pruned) == count_flops(conv_model)
    inp = keras.Input((6, 6, 2))
    outer = keras.Model(inp, keras.layers.Dense(2, name="head")(conv_model(inp)))
    got = flops_per_layer(outer)
    assert got[f"{conv_model.name}/conv"] == flops_per_layer(conv_model)["conv"]
    assert count_flops(outer) == 8664 + 2 * 7 * 2 + 2


def test_unknown_layer_is_none_until_registered():
    class Halve(keras.layers.Layer):
        def call(self, x):
            return x / 2.0

    inp = keras.Input((3,))
    model = keras.Model(inp, Halve(name="h")(inp))
    assert flops_per_layer(model) == {"h": None}
    assert count_flops(model) == 0
    register_flops(Halve, lambda layer, i, o, sparse: 3)
    assert count_flops(model) == 3


def test_subclassed_model_is_refused():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="subclassed"):
        count_flops(Sub())
