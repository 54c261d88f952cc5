"""The top-level public surface changes only on purpose, and every name resolves."""

import os
import subprocess
import sys

import numpy as np
import pytest

import tfbig

TOP_LEVEL = {
    "AttentionLoss", "Distiller", "FeatureLoss", "LogitsLoss", "Report", "WarmupSchedule",
    "accumulate_gradients", "distribute_dataset", "launch_workers", "load_model", "pipeline",
    "qat", "set_logical_devices", "strategy",
}
SUBPACKAGES = {"data", "distill", "distribute", "export", "models", "prune", "quantize",
               "report", "train"}


def test_public_names_are_pinned():
    assert set(tfbig.__all__) == TOP_LEVEL | SUBPACKAGES | {"keras", "__version__"}


@pytest.mark.parametrize("name", sorted(TOP_LEVEL | SUBPACKAGES))
def test_every_public_name_resolves_and_is_documented(name):
    obj = getattr(tfbig, name)
    assert obj.__doc__, name


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        tfbig.no_such_thing  # noqa: B018


def test_load_model_registers_everything_in_a_fresh_process(tmp_path):
    """A model saved with tfbig objects loads after a bare `import tfbig`."""
    from tfbig import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Reshape((8, 8))(inputs)
    x = tfbig.models.PositionEmbedding()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    model.compile(optimizer=keras.optimizers.SGD(tfbig.WarmupSchedule(0.1, warmup_steps=2)),
                  loss="mse")
    path = str(tmp_path / "m.keras")
    model.save(path)
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    code = (
        "import sys, numpy as np, tfbig\n"
        f"m = tfbig.load_model({path!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r}); y = np.load({str(tmp_path / 'y.npy')!r})\n"
        "np.testing.assert_allclose(m.predict(x, verbose=0), y, atol=1e-6)\n"
        "print('OK')\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("OK"), out.stderr[-2000:]


def test_load_model_names_a_missing_path(tmp_path):
    with pytest.raises(ValueError, match="No saved model at"):
        tfbig.load_model(str(tmp_path / "nope.keras"))
