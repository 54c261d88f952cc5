"""Parameter, non-zero and sparsity counts against hand computation."""

import numpy as np
import pytest

from tfbig import keras
from tfbig.report import count_nonzero_params
from tfbig.report import count_params
from tfbig.report import layer_sparsity
from tfbig.report import model_stats


def _tiny():
    inp = keras.Input((4,))
    x = keras.layers.Dense(3, name="a")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    out = keras.layers.Dense(2, use_bias=False, name="b")(x)
    model = keras.Model(inp, out)
    model.get_layer("a").set_weights(
        [np.array([[1, 0, 0], [0, 0, 2], [0, 0, 0], [3, 0, 0]], "float32"), np.array([0, 1, 0], "float32")]
    )
    model.get_layer("b").set_weights([np.array([[1, 0], [0, 0], [0, 5]], "float32")])
    return model


def test_counts_match_hand_computation():
    model = _tiny()
    # a: 12 + 3, bn: 4 x 3 (gamma=1, beta=0, mean=0, var=1), b: 6
    assert count_params(model) == 12 + 3 + 12 + 6 == model.count_params()
    assert count_nonzero_params(model) == (3 + 1) + (3 + 3) + 2
    assert layer_sparsity(model) == {"a": pytest.approx(9 / 12), "b": pytest.approx(4 / 6)}
    everything = layer_sparsity(model, kernels_only=False)
    assert everything["a"] == pytest.approx(1 - 4 / 15)
    assert everything["bn"] == pytest.approx(0.5)


def test_model_stats_rows_and_totals():
    stats = model_stats(_tiny())
    names = [row.name for row in stats.layers]
    assert names == ["input_1", "a", "bn", "b"] or names[1:] == ["a", "bn", "b"]
    assert stats.params == 33 and stats.nonzero_params == 12
    assert stats.sparsity == pytest.approx(1 - 12 / 33)
    # a: 2*4*3+3, bn: 2*3, b: 2*3*2
    assert stats.flops == 27 + 6 + 12
    assert stats.sparse_flops == 2 * 3 + 3 + 6 + 2 * 2
    row = {r.name: r for r in stats.layers}["b"]
    assert (row.params, row.nonzero_params, row.flops) == (6, 2, 12)
    assert stats.to_dict()["layers"][-1]["name"] == "b"


def test_pruning_and_quantize_wrappers_are_looked_through():
    import tensorflow_model_optimization as tfmot

    inp = keras.Input((8,))
    x = keras.layers.Dense(16, activation="relu", name="h")(inp)
    model = keras.Model(inp, keras.layers.Dense(4, name="o")(x))
    pruned = tfmot.sparsity.keras.prune_low_magnitude(
        model, pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.5, 0, frequency=1)
    )
    assert count_params(pruned) == model.count_params()
    pruned.compile("sgd", "mse")
    x_data = np.random.default_rng(0).random((8, 8)).astype("float32")
    pruned.fit(x_data, np.zeros((8, 4)), epochs=2, verbose=0,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    sparsity = layer_sparsity(pruned)
    assert sparsity["h"] == pytest.approx(0.5) and sparsity["o"] == pytest.approx(0.5)
    quantized = tfmot.quantization.keras.quantize_model(model)
    assert count_params(quantized) == model.count_params()
    assert model_stats(quantized).flops == model_stats(model).flops


def test_keras3_like_object_is_refused():
    with pytest.raises(TypeError, match="tf_keras"):
        count_params(object())
