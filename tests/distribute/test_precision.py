"""Mixed precision switch: float16 gets loss scaling (also with accumulation)."""

import numpy as np
import pytest

from tfbig import keras
from tfbig.distribute import accumulate_gradients
from tfbig.distribute import set_mixed_precision
from tfbig.distribute import strategy


@pytest.fixture
def policy():
    previous = keras.mixed_precision.global_policy().name
    yield
    set_mixed_precision(previous)


def _fit(optimizer, s):
    with s.scope():
        model = keras.Sequential([
            keras.layers.Dense(8, activation="relu", input_shape=(4,)),
            keras.layers.Dense(2),
            keras.layers.Activation("linear", dtype="float32"),
        ])
        model.compile(optimizer, "mse")
    x = np.random.RandomState(0).rand(32, 4).astype("float32")
    history = model.fit(x, x[:, :2], batch_size=8, epochs=2, verbose=0)
    return model, history.history["loss"]


@pytest.mark.parametrize("accumulate", [False, True])
def test_float16_is_loss_scaled_under_mirrored(policy, accumulate):
    assert set_mixed_precision("mixed_float16") == "float32"
    optimizer = keras.optimizers.SGD(0.1)
    if accumulate:
        optimizer = accumulate_gradients(optimizer, 2)
    model, losses = _fit(optimizer, strategy("mirrored", devices_per_worker=2))
    assert isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
    assert model.layers[0].compute_dtype == "float16"
    assert model.layers[0].kernel.dtype == "float32"
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_bfloat16_needs_no_loss_scaling(policy):
    set_mixed_precision("mixed_bfloat16")
    model, losses = _fit(keras.optimizers.SGD(0.1), strategy("default"))
    assert not isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
    assert model.layers[0].compute_dtype == "bfloat16" and np.isfinite(losses).all()


def test_unknown_policy(policy):
    with pytest.raises(ValueError, match="policy='float8'"):
        set_mixed_precision("float8")
