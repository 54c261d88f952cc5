"""Models of every kind a user has, small data, and pruning assertions."""

import numpy as np
import pytest
import tensorflow as tf

from tfbig import keras
from tfbig.prune import sparsity_report

NUM_CLASSES = 10


@keras.utils.register_keras_serializable("tfbig_tests_prune")
class SubclassedNet(keras.Model):
    """A subclassed model: sublayers in attributes and in a list."""

    def __init__(self, units=24, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.flatten = keras.layers.Flatten()
        self.hidden = [keras.layers.Dense(units, activation="relu"),
                       keras.layers.Dense(units, activation="relu")]
        self.head = keras.layers.Dense(NUM_CLASSES)

    def call(self, inputs):
        x = self.flatten(inputs)
        for layer in self.hidden:
            x = layer(x)
        return self.head(x)

    def get_config(self):
        return {"units": self.units, "name": self.name}


@keras.utils.register_keras_serializable("tfbig_tests_prune")
class TransformerBlock(keras.layers.Layer):
    """A hand-written transformer block: MultiHeadAttention, EinsumDense, Dense."""

    def __init__(self, dim=16, heads=2, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.heads = dim, heads
        self.attention = keras.layers.MultiHeadAttention(heads, dim // heads, name="attention")
        self.expand = keras.layers.EinsumDense("btd,df->btf", output_shape=(None, 2 * dim),
                                               activation="relu", name="expand")
        self.project = keras.layers.Dense(dim, name="project")
        self.norm = keras.layers.LayerNormalization()

    def call(self, x):
        x = self.norm(x + self.attention(x, x))
        return x + self.project(self.expand(x))

    def get_config(self):
        return dict(super().get_config(), dim=self.dim, heads=self.heads)


def sequential():
    return keras.Sequential([
        keras.layers.Flatten(input_shape=(8, 8, 1)),
        keras.layers.Dense(32, activation="relu", name="s1"),
        keras.layers.Dense(NUM_CLASSES, name="s2"),
    ], name="seq")


def functional_tf_ops():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(16, 3, name="c1")(inputs)
    x = tf.nn.relu(x) * 0.5 + 0.1  # raw TF ops: TFOpLambda layers
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(32, name="f1")(x)
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES, name="f2")(x), name="func")


def transformer():
    tokens = keras.Input((8,), dtype="int32")
    x = keras.layers.Embedding(64, 16, name="embed")(tokens)
    x = TransformerBlock(name="block")(x)
    x = keras.layers.MultiHeadAttention(2, 8, name="mha")(x, x) + x
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(tokens, keras.layers.Dense(NUM_CLASSES, name="head")(x), name="tfm")


def nested():
    inner = keras.Sequential([keras.layers.Dense(32, activation="relu", name="n1"),
                              keras.layers.Dense(16, activation="relu", name="n2")], name="inner")
    inputs = keras.Input((8, 8, 1))
    x = inner(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES, name="out")(x), name="nested")


def subclassed():
    model = SubclassedNet(name="sub")
    model(np.zeros((1, 8, 8, 1), "float32"))
    return model


BUILDERS = {
    "sequential": sequential,
    "functional_tf_ops": functional_tf_ops,
    "transformer": transformer,
    "nested": nested,
    "subclassed": subclassed,
}


def data_for(kind, n=64, seed=0):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, NUM_CLASSES, n)
    if kind == "transformer":
        return rng.randint(0, 64, (n, 8)).astype("int32"), y
    return rng.rand(n, 8, 8, 1).astype("float32"), y


def compile_model(model):
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def assert_sparsity(model, target, tol=0.005, per_layer=True):
    """Asserts each pruned layer (and overall) is within ``tol`` of ``target``."""
    report = sparsity_report(model)
    assert report.layers, "no pruned layer found"
    if per_layer:
        for row in report.layers:
            assert abs(row.sparsity - target) <= tol, (row.name, row.sparsity, target)
    assert abs(report.overall - target) <= tol, (report.overall, target)
    return report


def mirrored(num_replicas):
    """A MirroredStrategy over logical CPUs, as tfbig.distribute makes it.

    It all-reduces with ReductionToOneDevice on CPUs: TF's default collective
    all-reduce numbers its groups from 1 in every strategy, so strategies of 2
    and 4 replicas in one test process would abort each other.
    """
    from tfbig.distribute import logical_device_names
    from tfbig.distribute import strategy

    return strategy("mirrored", devices=logical_device_names("CPU")[:num_replicas])


@pytest.fixture(params=[1, 2, 4], ids=["default", "mirrored2", "mirrored4"])
def strategy(request):
    if request.param == 1:
        return tf.distribute.get_strategy()
    return mirrored(request.param)
