"""PruneLowMagnitude: mixed precision, config, EinsumDense, multiple inputs."""

import numpy as np
import pytest

from tfbig import keras
from tfbig.prune import PolynomialDecay
from tfbig.prune import PruneLowMagnitude
from tfbig.prune import magnitude
from tests.prune.conftest import BUILDERS
from tests.prune.conftest import assert_sparsity
from tests.prune.conftest import compile_model
from tests.prune.conftest import data_for


@pytest.fixture
def policy():
    def set_policy(name):
        keras.mixed_precision.set_global_policy(name)

    yield set_policy
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy, name):
    policy(name)
    x, y = data_for("functional_tf_ops", n=32)
    model = BUILDERS["functional_tf_ops"]()
    pruned = compile_model(magnitude(model, target_sparsity=0.7, end_step=2, frequency=1))
    before = pruned.get_layer("prune_low_magnitude_f1").layer.kernel
    assert before.dtype.name == "float32"  # master weights stay float32
    pruned.fit(x, y, batch_size=16, verbose=0)
    assert_sparsity(pruned, 0.7)
    assert pruned.get_layer("prune_low_magnitude_f1").layer.kernel.dtype.name == "float32"


def test_config_keeps_every_argument():
    wrapper = PruneLowMagnitude(keras.layers.Dense(4, name="d"),
                                pruning_schedule=PolynomialDecay(0.0, 0.5, end_epoch=2),
                                sparsity_m_by_n=(2, 4), ranking="layer")
    config = wrapper.get_config()
    assert config["sparsity_m_by_n"] == (2, 4) and config["ranking"] == "layer"
    again = PruneLowMagnitude.from_config(config)
    assert again.sparsity_m_by_n == (2, 4)
    assert again.pruning_schedule.get_config() == wrapper.pruning_schedule.get_config()
    assert again.name == wrapper.name == "prune_low_magnitude_d"


def test_einsum_dense_alone_is_prunable():
    inputs = keras.Input((6,))
    layer = keras.layers.EinsumDense("ab,bc->ac", output_shape=8, name="e")
    model = keras.Model(inputs, layer(inputs))
    pruned = compile_model(magnitude(model, target_sparsity=0.5, end_step=1, frequency=1))
    assert pruned.prune_plan.pruned == ["e"]
    pruned.compile("sgd", "mse")
    pruned.fit(np.ones((8, 6)), np.ones((8, 8)), batch_size=8, verbose=0)
    assert_sparsity(pruned, 0.5)


def test_bad_ranking_and_layer():
    with pytest.raises(ValueError, match="ranking='x'"):
        PruneLowMagnitude(keras.layers.Dense(2), ranking="x")
    with pytest.raises(TypeError, match="tf_keras `Layer`"):
        PruneLowMagnitude("dense")
