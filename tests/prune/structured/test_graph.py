"""Equivalence: channels whose weights are zero are removed, outputs unchanged."""

import numpy as np
import pytest

from tests.prune.structured import _models
from tests.prune.structured._models import assert_zero_channels_removed_exactly
from tfbig import keras
from tfbig.models import transformer
from tfbig.prune import structured as sp


def test_sequential_by_hand():
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(6, activation="relu", name="h"),
         keras.layers.Dense(2, name="o")]
    )
    kernel, bias = model.get_layer("h").get_weights()
    kernel[:, [1, 4]] = 0.0
    bias[[1, 4]] = 0.0
    model.get_layer("h").set_weights([kernel, bias])
    p = sp.plan(model, ratio=2 / 6)
    assert p.removed_channels("h") == [1, 4]
    new = p.apply()
    assert new.get_layer("h").units == 4
    np.testing.assert_array_equal(new.get_layer("o").get_weights()[0],
                                  model.get_layer("o").get_weights()[0][[0, 2, 3, 5]])
    x = np.random.default_rng(1).normal(size=(3, 5)).astype("float32")
    np.testing.assert_allclose(new(x), model(x), atol=1e-6)


def test_sequential_conv_layers():
    model = _models.randomize_batchnorm(_models.sequential())
    p, new = assert_zero_channels_removed_exactly(model)
    assert new.get_layer("c1").filters == 8
    assert new.get_layer("dw").get_weights()[0].shape[-2:] == (8, 2)
    assert new.get_layer("sep").filters == 6
    assert new.get_layer("up").filters == 4
    assert new.get_layer("fc").units == 8


def test_residual_add_couples_channels():
    model = _models.randomize_batchnorm(_models.residual())
    p, new = assert_zero_channels_removed_exactly(model)
    coupled = ["stem", "b0_project", "b1_project", "skip", "se_expand"]
    removed = [p.removed_channels(name) for name in coupled]
    assert all(r == removed[0] and len(r) == 8 for r in removed)
    group = next(g for g in p.groups if "stem" in g.layers)
    assert set(group.layers) == set(coupled)
    assert new.get_layer("se_reshape").target_shape == (1, 1, 8)
    assert new.get_layer("logits").get_weights()[0].shape == (8 * 4 * 4, 5)


def test_concatenate_flatten_reshape_and_embedding():
    model = _models.concatenating()
    p, new = assert_zero_channels_removed_exactly(model)
    assert new.get_layer("emb").output_dim == 6
    assert new.get_layer("cat").output_shape[-1] == 4 + 3 + 6
    assert new.get_layer("pairs").target_shape == (2, 26)
    assert not any("emb" in g.layers and "conv_a" in g.layers for g in p.groups)


def test_transformer_heads_and_feed_forward():
    model = transformer(num_layers=2)
    p, new = assert_zero_channels_removed_exactly(model)
    assert new.get_layer("block1_mha")._num_heads == 2
    assert new.get_layer("block2_ff1").units == 32
    intact = dict(p.intact)
    assert "LayerNormalization" in intact["token_proj"]


def test_attention_with_key_value_and_output_shape():
    model = _models.attention()
    p, new = assert_zero_channels_removed_exactly(model)
    mha = new.get_layer("mha")
    assert mha._num_heads == 2
    assert mha._query_dense.kernel.shape == (8, 2, 6)
    assert mha._key_dense.kernel.shape == (5, 2, 6)
    assert mha._value_dense.kernel.shape == (7, 2, 5)
    assert mha._output_dense.kernel.shape == (2, 5, 6)


def test_shared_layer_loses_the_same_channels_on_every_call():
    inputs = keras.Input((4,))
    shared = keras.layers.Dense(6, activation="relu", name="shared")
    a = shared(keras.layers.Dense(4, name="pre")(inputs))
    b = shared(inputs)
    x = keras.layers.Concatenate(name="cat")([a, b])
    model = keras.Model(inputs, keras.layers.Dense(2, name="o")(x))
    p, new = assert_zero_channels_removed_exactly(model)
    assert new.get_layer("shared").units == 3


@pytest.mark.parametrize("importance", ["l2", "bn"])
def test_other_criteria_keep_equivalence(importance):
    model = _models.randomize_batchnorm(_models.residual(), seed=3)
    assert_zero_channels_removed_exactly(model, importance=importance, round_to=4)


def test_residual_branches_removed_whole():
    model = _models.randomize_batchnorm(_models.residual())
    p, new = assert_zero_channels_removed_exactly(model, ratio=0.25, block_ratio=0.5)
    assert len(p.blocks) == 1
    names = {layer.name for layer in new.layers}
    assert not names & set(p.blocks[0].layers) and p.blocks[0].add not in names
    assert "residual branches removed" in p.details()


def test_transformer_attention_branches_removed_whole():
    model = transformer(num_layers=2)
    p, new = assert_zero_channels_removed_exactly(model, block_ratio=0.5)
    assert sorted(b.layers for b in p.blocks) == [("block1_mha",), ("block2_mha",)]
    assert len(new.layers) == len(model.layers) - 4


def test_one_dimensional_layers_and_merges():
    p, new = assert_zero_channels_removed_exactly(_models.one_dimensional())
    assert new.get_layer("c1").filters == 5
    assert new.get_layer("sep").filters == 4
    assert new.get_layer("tconv").filters == 3
    assert dict(p.intact)["scores"] == "its softmax mixes every channel (at 'softmax')"


def test_pruned_model_saves_and_loads_without_custom_objects(tmp_path):
    from tfbig.testing import run_saving_test

    new = sp.prune(transformer(num_layers=1), ratio=0.5)
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    run_saving_test(new, x, formats=("keras", "h5"), atol=1e-5, directory=str(tmp_path))
