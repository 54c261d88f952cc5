import subprocess
import sys

import keras as keras3
import pytest

import tfbig
from tfbig import keras
from tfbig._backend import check_layer
from tfbig._backend import check_model


def test_tfbig_keras_is_tf_keras():
    import tf_keras

    assert tfbig.keras is tf_keras


def test_keras3_model_is_refused_with_fix():
    m3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)])
    with pytest.raises(TypeError, match="Keras 3.*TF_USE_LEGACY_KERAS=1"):
        check_model(m3)
    with pytest.raises(TypeError, match="Keras 3"):
        check_layer(m3.layers[0], "layer")


def test_non_model_is_refused():
    with pytest.raises(TypeError, match="tf_keras `Model`.*Received: model of type builtins.int"):
        check_model(3)


def test_subclassed_refused_when_graph_needed():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="subclassed"):
        check_model(Sub(), allow_subclassed=False)
    assert check_model(Sub()) is not None


def test_import_is_cheap():
    code = "import sys, tfbig; print('tensorflow' in sys.modules, 'tf_keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
