import os

import numpy as np
import pytest

from tfbig import export
from tfbig import keras


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.layers.Dense(3, input_shape=(4,), name="fc")])


@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel"])
def test_round_trip_and_overwrite(fmt, tmp_path):
    model, x = _model(), np.ones((2, 4), "float32")
    target = tmp_path / {"keras": "m.keras", "h5": "m.h5", "savedmodel": "m"}[fmt]
    write = export.savedmodel if fmt == "savedmodel" else export.keras
    path = write(model, target)
    np.testing.assert_allclose(keras.models.load_model(path).predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-6)
    with pytest.raises(ValueError, match="already exists"):
        write(model, target)
    other = _model()
    other.set_weights([w + 1 for w in model.get_weights()])
    write(other, target, overwrite=True)
    np.testing.assert_allclose(keras.models.load_model(path).predict(x, verbose=0),
                               other.predict(x, verbose=0), atol=1e-6)
    assert os.listdir(tmp_path) == [os.path.basename(path)]  # no temporaries left


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    model = _model()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(model, "save", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        export.savedmodel(model, tmp_path / "m")
    assert os.listdir(tmp_path) == []


def test_bad_paths(tmp_path):
    with pytest.raises(ValueError, match=r"end in \.keras or \.h5"):
        export.keras(_model(), tmp_path / "m.zip")
    with pytest.raises(TypeError, match="file path"):
        export.savedmodel(_model(), 3)
