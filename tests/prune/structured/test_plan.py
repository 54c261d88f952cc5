"""The dry run: options, details, counts, and clear errors for bad input."""

import keras as keras3
import numpy as np
import pytest

from tests.prune.structured import _models
from tfbig import keras
from tfbig.models import cnn
from tfbig.models import mlp
from tfbig.prune import structured as sp
from tfbig.report import count_flops


@pytest.fixture(scope="module")
def small_cnn():
    return cnn(filters=(24, 40), dense_units=32)


def test_public_names():
    assert sorted(sp.__all__) == [
        "Cut", "GradualStructuredPruning", "Group", "Slice", "StructuredPlan", "Surgeon",
        "get_surgeon", "plan", "prune", "register_surgeon", "registered_layers",
    ]


def test_details_and_counts(small_cnn):
    p = sp.plan(small_cnn, ratio=0.5, round_to=8)
    text = p.details()
    for needle in ("parameters:", "FLOPs:", "conv1: 24 -> 16 channels", "conv2: 40 -> 24 channels",
                   "fc: 32 -> 16 channels", "left intact", "logits: it feeds the model output"):
        assert needle in text, needle
    new = p.apply()
    assert new.count_params() == p.params_after
    assert count_flops(new) == p.flops_after < p.flops_before == count_flops(small_cnn)
    assert "removed_units" in repr(p)


def test_model_is_not_changed(small_cnn):
    before = [w.copy() for w in small_cnn.get_weights()]
    new = sp.prune(small_cnn, ratio=0.5)
    assert new is not small_cnn
    assert small_cnn.get_layer("conv1").filters == 24
    for a, b in zip(before, small_cnn.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_round_to_keeps_multiples():
    model = mlp(hidden=(40, 24), dropout=0.0)
    p = sp.plan(model, ratio=0.3, round_to=8)
    kept = [(g.layers, g.kept) for g in p.groups if g.removed]
    assert kept == [(("dense1",), 32), (("dense2",), 16)]


def test_layer_ratios_and_ignore():
    model = mlp(hidden=(16, 16, 16), dropout=0.0)
    p = sp.plan(model, ratio=0.5, layer_ratios={"dense2": 0.25}, ignore=["dense1"])
    kept = {g.layers[0]: g.kept for g in p.groups}
    assert kept["dense1"] == 16 and kept["dense2"] == 12 and kept["dense3"] == 8
    assert ("dense1", "listed in `ignore`") in p.intact
    # an ignored layer keeps its inputs too, so its producer stays whole
    assert dict(sp.plan(model, ignore=["dense3"]).intact)["dense2"].startswith("listed")


def test_global_ranking_removes_the_weakest_layer_first():
    model = mlp(hidden=(16, 16), dropout=0.0)
    kernel, bias = model.get_layer("dense2").get_weights()
    kernel[:, :8] *= 1e-3  # half of dense2 is nearly dead, dense1 is healthy
    model.get_layer("dense2").set_weights([kernel, bias])
    p = sp.plan(model, ratio=0.25, global_ranking=True)
    kept = {g.layers[0]: g.kept for g in p.groups}
    assert kept == {"dense1": 16, "dense2": 8, "logits": 10}


def test_bn_importance_follows_gamma():
    model = cnn(filters=(8,), dense_units=None, dropout=0.0)
    gamma, beta, mean, var = model.get_layer("bn1").get_weights()
    gamma[:] = 1.0
    gamma[[2, 5, 6, 7]] = 0.01
    model.get_layer("bn1").set_weights([gamma, beta, mean, var])
    assert sp.plan(model, ratio=0.5, importance="bn").removed_channels("conv1") == [2, 5, 6, 7]


def test_taylor_importance_uses_data():
    model = mlp(hidden=(8,), dropout=0.0)
    rng = np.random.default_rng(0)
    data = (rng.random((64, 8, 8, 1), dtype=np.float32), rng.integers(0, 10, 64))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    p = sp.plan(model, ratio=0.5, importance="taylor", data=data, loss=loss)
    assert p.groups[0].kept == 4
    with pytest.raises(ValueError, match="needs `data`"):
        sp.plan(model, importance="taylor")
    with pytest.raises(ValueError, match="needs a `loss`"):
        sp.plan(model, importance="taylor", data=data)


@pytest.mark.parametrize("ratio", [1.0, 1.5, -0.1, "half", True])
def test_ratio_that_removes_everything_is_refused(ratio):
    with pytest.raises(ValueError, match=r"remove every channel.*Received: ratio="):
        sp.plan(mlp(hidden=(4,)), ratio=ratio)


def test_bad_options():
    model = mlp(hidden=(4,))
    with pytest.raises(ValueError, match="importance.*Received: importance='l3'"):
        sp.plan(model, importance="l3")
    with pytest.raises(ValueError, match="round_to.*Received: round_to=0"):
        sp.plan(model, round_to=0)
    with pytest.raises(ValueError, match="on_unsupported.*Received"):
        sp.plan(model, on_unsupported="skip")
    with pytest.raises(ValueError, match="Received: block_ratio=1.0"):
        sp.plan(model, block_ratio=1.0)
    with pytest.raises(ValueError, match=r"layer_ratios\['dense1'\]"):
        sp.plan(model, layer_ratios={"dense1": 1.0})


def test_unsupported_layer_in_a_coupled_group_is_named():
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, name="d1")(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="o")(x))
    with pytest.raises(ValueError, match=r"'double' \(Lambda\).*\['d1'\].*register_surgeon"
                                         r".*on_unsupported='keep'.*Received: layer='double'"):
        sp.plan(model)
    p = sp.plan(model, on_unsupported="keep")
    assert dict(p.intact)["d1"].startswith("unsupported layer Lambda")
    assert p.apply().get_layer("d1").units == 8


def test_subclassed_model_is_refused_with_the_alternative():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(4)

        def call(self, x):
            return self.d(x)

    model = Sub()
    model(np.zeros((1, 3), "float32"))
    with pytest.raises(TypeError, match=r"subclassed.*functional API.*Received: model="):
        sp.plan(model)


def test_keras3_model_is_refused():
    model = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)])
    with pytest.raises(TypeError, match="Keras 3"):
        sp.plan(model)


def test_model_output_and_softmax_stay_intact():
    model = _models.sequential()
    p = sp.plan(model, ratio=0.5)
    assert p.cuts["out"].outputs[0].all()
    assert "out" in dict(p.intact)


def test_unbuilt_sequential_is_refused():
    with pytest.raises(TypeError, match=r"not built.*Input"):
        sp.plan(keras.Sequential([keras.layers.Dense(2)]))


def test_ratio_zero_removes_nothing_even_when_rounding():
    p = sp.plan(mlp(hidden=(19,)), ratio=0.0, round_to=8)
    assert not any(g.removed for g in p.groups)


def test_grouped_convolution_is_left_intact_with_its_inputs():
    inputs = keras.Input((6, 6, 4))
    x = keras.layers.Conv2D(8, 1, name="pre")(inputs)
    x = keras.layers.Conv2D(8, 3, groups=2, name="grouped")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="o")(x))
    p = sp.plan(model, ratio=0.5)
    intact = dict(p.intact)
    assert intact["grouped"] == "grouped convolution (groups=2)"
    assert intact["pre"] == "grouped convolution (groups=2) (at 'grouped')"
    assert not any(g.removed for g in p.groups)
