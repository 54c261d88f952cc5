"""The surgeon registry: users teach structured pruning their own layers."""

import numpy as np
import pytest

from tests.prune.structured._models import assert_zero_channels_removed_exactly
from tfbig import keras
from tfbig.prune import structured as sp


class ChannelScale(keras.layers.Layer):
    """A custom layer: one learned scale per channel."""

    def build(self, input_shape):
        self.scale = self.add_weight("scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.scale


class ChannelScaleSurgeon(sp.Surgeon):
    def slices(self, layer, state):
        return [sp.Slice("in", layer.scale, 0)]


def _model():
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = ChannelScale(name="scale")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="o")(x))
    layer = model.get_layer("scale")
    layer.set_weights([np.linspace(0.5, 2.0, 8).astype("float32")])
    return model


def test_unregistered_custom_layer_is_named():
    sp.register_surgeon(ChannelScale, ChannelScaleSurgeon())
    try:
        sp._registry._REGISTRY.pop(ChannelScale)
        with pytest.raises(ValueError, match=r"'scale' \(ChannelScale\).*register_surgeon"):
            sp.plan(_model())
    finally:
        sp._registry._REGISTRY.pop(ChannelScale, None)


def test_registered_custom_layer_is_pruned_exactly():
    sp.register_surgeon(ChannelScale, ChannelScaleSurgeon())
    try:
        p, new = assert_zero_channels_removed_exactly(_model())
        kept = np.flatnonzero(p.cuts["scale"].inputs[0])
        np.testing.assert_allclose(new.get_layer("scale").get_weights()[0],
                                   np.linspace(0.5, 2.0, 8)[kept], rtol=1e-6)
        assert isinstance(sp.get_surgeon(new.get_layer("scale")), ChannelScaleSurgeon)
    finally:
        sp._registry._REGISTRY.pop(ChannelScale, None)


def test_register_surgeon_checks_its_arguments():
    with pytest.raises(TypeError, match="layer_class.*Received"):
        sp.register_surgeon(keras.layers.Dense(2), sp.Surgeon())
    with pytest.raises(TypeError, match="Surgeon.*Received"):
        sp.register_surgeon(ChannelScale, object())


def test_builtin_layers_are_registered():
    names = set(sp.registered_layers())
    for name in ("Dense", "Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D",
                 "Conv2DTranspose", "BatchNormalization", "LayerNormalization", "Embedding",
                 "MultiHeadAttention", "Add", "Subtract", "Multiply", "Concatenate",
                 "Flatten", "Reshape", "MaxPooling2D", "GlobalAveragePooling2D",
                 "Activation", "Dropout", "ZeroPadding2D", "PositionEmbedding"):
        assert name in names, name
