import numpy as np
import pytest

from tfbig import keras
from tfbig.quantize import QuantizableMultiHeadAttention


@pytest.mark.parametrize("cross", [False, True])
def test_same_outputs_as_multi_head_attention(cross):
    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, 5, 8)).astype("float32")
    v = rng.normal(size=(2, 7, 8)).astype("float32") if cross else q
    mha = keras.layers.MultiHeadAttention(2, 4)
    expected = mha(q, v).numpy()
    layer = QuantizableMultiHeadAttention.from_config(mha.get_config())
    layer([q, v] if cross else q)
    layer.set_weights(mha.get_weights())
    np.testing.assert_allclose(layer([q, v] if cross else q).numpy(), expected, atol=1e-6)


def test_causal_mask_matches():
    x = np.random.default_rng(1).normal(size=(2, 6, 8)).astype("float32")
    mha = keras.layers.MultiHeadAttention(2, 4)
    expected = mha(x, x, use_causal_mask=True).numpy()
    layer = QuantizableMultiHeadAttention(2, 4, use_causal_mask=True)
    layer(x)
    layer.set_weights(mha.get_weights())
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-6)


def test_builds_kernels_before_first_call_and_round_trips_config():
    layer = QuantizableMultiHeadAttention(2, 4, use_causal_mask=True, name="att")
    layer.build([(None, 5, 8), (None, 5, 8)])
    assert layer._query_dense.kernel.shape == (8, 2, 4)
    assert layer._output_dense.kernel.shape == (2, 4, 8)
    config = layer.get_config()
    again = QuantizableMultiHeadAttention.from_config(config)

    def plain(c):
        return {k: v for k, v in c.items() if not k.endswith("_shape")}

    assert plain(again.get_config()) == plain(config) and again.use_causal_mask


def test_rejects_too_many_inputs():
    x = np.zeros((1, 2, 4), "float32")
    with pytest.raises(ValueError, match="Received: 4 inputs"):
        QuantizableMultiHeadAttention(1, 4)([x, x, x, x])
