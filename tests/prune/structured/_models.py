"""Small models shared by the structured pruning tests."""

import numpy as np

from tfbig import keras
from tfbig.prune import structured as sp

L = keras.layers


def randomize_batchnorm(model, seed=0):
    """Gives every BatchNormalization non-trivial gamma/beta/mean/variance."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            layer.set_weights(
                [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()]
            )
    return model


def sequential():
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            L.Conv2D(16, 3, padding="same", name="c1"),
            L.BatchNormalization(name="bn1"),
            L.ReLU(name="relu1"),
            L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw"),
            L.SeparableConv2D(12, 3, padding="same", activation="relu", name="sep"),
            L.ZeroPadding2D(1, name="pad"),
            L.AveragePooling2D(name="avg"),
            L.Conv2DTranspose(8, 3, strides=2, name="up"),
            L.LeakyReLU(name="leaky"),
            L.GlobalMaxPooling2D(name="gmp"),
            L.Dense(16, activation="relu", name="fc"),
            L.Dropout(0.2, name="drop"),
            L.Dense(4, name="out"),
        ],
        name="seq",
    )


def residual():
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.Activation("relu", name="stem_relu")(x)
    for i in range(2):
        h = L.Conv2D(8, 1, name=f"b{i}_expand")(x)
        h = L.BatchNormalization(name=f"b{i}_bn")(h)
        h = L.ReLU(6.0, name=f"b{i}_relu")(h)
        h = L.Conv2D(16, 3, padding="same", name=f"b{i}_project")(h)
        x = L.Add(name=f"b{i}_add")([x, h])
    s = L.Conv2D(16, 1, name="skip")(x)
    x = L.Subtract(name="sub")([x, s])
    g = L.GlobalAveragePooling2D(name="se_pool")(x)
    g = L.Reshape((1, 1, 16), name="se_reshape")(g)
    g = L.Conv2D(4, 1, activation="swish", name="se_reduce")(g)
    g = L.Conv2D(16, 1, activation="sigmoid", name="se_expand")(g)
    x = L.Multiply(name="se_mul")([x, g])
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Flatten(name="flatten")(x)
    return keras.Model(inputs, L.Dense(5, name="logits")(x), name="residual")


def concatenating():
    tokens = keras.Input((6,), dtype="int32")
    e = L.Embedding(20, 12, name="emb")(tokens)
    a = L.Conv1D(8, 3, padding="same", activation="relu", name="conv_a")(e)
    b = L.Dense(6, activation="tanh", name="dense_b")(e)
    x = L.Concatenate(name="cat")([a, b, e])
    x = L.Cropping1D(1, name="crop")(x)
    pooled = L.GlobalAveragePooling1D(name="gap")(x)
    pairs = L.Reshape((2, 52), name="pairs")(x)
    flat = L.Flatten(name="flat")(pairs)
    y = L.Concatenate(name="cat2")([L.Dense(10, name="head_a")(flat), pooled])
    return keras.Model(tokens, L.Dense(3, name="logits")(y), name="concat")


def attention():
    q = keras.Input((5, 12))
    kv = keras.Input((7, 10))
    x = L.Dense(16, name="q_proj")(q)
    v = L.Dense(14, activation="relu", name="v_proj")(kv)
    k = L.Dense(9, name="k_proj")(kv)
    att = L.MultiHeadAttention(4, 6, value_dim=5, output_shape=11, name="mha")(
        x, v, key=k
    )
    h = L.Dense(20, activation="gelu", name="ff")(att)
    h = L.GlobalAveragePooling1D(name="pool")(h)
    return keras.Model([q, kv], L.Dense(3, name="logits")(h), name="attention")


def _inputs(model, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for t in model.inputs:
        shape = [4] + [int(d) for d in t.shape[1:]]
        if t.dtype.is_integer:
            out.append(rng.integers(0, 20, shape).astype("int32"))
        else:
            out.append(rng.normal(size=shape).astype("float32"))
    return out if len(out) > 1 else out[0]


def _copy(model):
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


def assert_zero_channels_removed_exactly(model, ratio=0.5, **kwargs):
    """Zeros the planned channels of a copy, re-plans it (the zero channels
    score lowest, so the same ones are chosen) and checks the pruned model
    computes what the zeroed one does. Returns the plan and the new model."""
    zeroed = _copy(model)
    first = sp.plan(zeroed, ratio=ratio, **kwargs)
    for variable, mask in first.zero_masks():
        variable.assign(variable * mask)
    again = sp.plan(zeroed, ratio=ratio, **kwargs)
    assert sorted(b.add for b in again.blocks) == sorted(b.add for b in first.blocks)

    def live(plan):  # channels of removed branches do not matter
        return [g.removed for g in plan.groups if not set(g.layers) <= plan.dropped]

    assert live(again) == live(first)
    assert any(g.removed for g in again.groups)
    new = again.apply()
    x = _inputs(model)
    np.testing.assert_allclose(
        np.asarray(new(x, training=False)), np.asarray(zeroed(x, training=False)), atol=2e-5
    )
    assert new.count_params() == again.params_after < again.params_before
    return again, new


def one_dimensional():
    inputs = keras.Input((12, 4))
    x = L.Conv1D(10, 3, padding="same", name="c1")(inputs)
    x = L.PReLU(name="prelu")(x)
    x = L.DepthwiseConv1D(3, padding="same", name="dw")(x)
    x = L.SeparableConv1D(8, 3, padding="same", depth_multiplier=2, name="sep")(x)
    y = L.Conv1D(8, 1, activation="elu", name="c2")(x)
    x = L.Average(name="avg")([x, y])
    x = L.Maximum(name="max")([x, L.Conv1D(8, 1, name="c3")(x)])
    x = L.Minimum(name="min")([x, L.Conv1D(8, 1, name="c4")(x)])
    x = L.UpSampling1D(2, name="up")(x)
    x = L.Cropping1D(2, name="crop")(x)
    x = L.Conv1DTranspose(6, 3, strides=2, name="tconv")(x)
    x = L.Permute((1, 2), name="same_order")(x)
    x = L.SpatialDropout1D(0.1, name="sdrop")(x)
    x = L.GlobalMaxPooling1D(name="gmp")(x)
    x = L.Dense(6, name="scores")(x)
    s = L.Softmax(name="softmax")(x)  # a softmax over channels pins "scores"
    return keras.Model(inputs, L.Dense(2, name="o")(s), name="one_d")
