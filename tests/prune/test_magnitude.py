"""tfbig.prune.magnitude on every kind of model, under every strategy."""

import numpy as np
import pytest
import tensorflow as tf

from tfbig import keras
from tfbig.prune import PrunedModel
from tfbig.prune import PrunedSequential
from tfbig.prune import PrunedSubclassedModel
from tfbig.prune import magnitude
from tests.prune.conftest import BUILDERS
from tests.prune.conftest import assert_sparsity
from tests.prune.conftest import compile_model
from tests.prune.conftest import data_for

EXPECTED_PRUNED = {
    "sequential": ["s1", "s2"],
    "functional_tf_ops": ["c1", "f1", "f2"],
    "transformer": ["embed", "block/attention", "block/expand", "block/project", "mha", "head"],
    "nested": ["inner/n1", "inner/n2", "out"],
    "subclassed": None,  # auto-generated sublayer names
}
EXPECTED_CLASS = {"sequential": PrunedSequential, "subclassed": PrunedSubclassedModel}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_reaches_target_under_each_strategy(kind, strategy):
    x, y = data_for(kind)
    with strategy.scope():
        original = BUILDERS[kind]()
        before = [w.copy() for w in original.get_weights()]
        pruned = compile_model(magnitude(original, target_sparsity=0.7, end_step=4, frequency=1))
    assert isinstance(pruned, EXPECTED_CLASS.get(kind, PrunedModel))
    if EXPECTED_PRUNED[kind] is not None:
        assert pruned.prune_plan.pruned == EXPECTED_PRUNED[kind]
    # Before training the pruned copy computes what the original computes.
    np.testing.assert_allclose(pruned(x[:8]), original(x[:8]), atol=1e-5)
    pruned.fit(x, y, batch_size=16, epochs=1, verbose=0)  # 4 steps, no callbacks given
    assert_sparsity(pruned, 0.7)
    # The user's model is untouched: same weights, no zeros forced in.
    for a, b in zip(before, original.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Masks are identical on every replica.
    from tfbig.prune._walk import wrappers

    for _, wrapper in wrappers(pruned):
        for _, mask, _ in wrapper.pruning_vars:
            local = [np.asarray(v) for v in strategy.experimental_local_results(mask)]
            for value in local[1:]:
                np.testing.assert_array_equal(value, local[0])


def test_tf_ops_are_left_and_reported():
    pruned = magnitude(BUILDERS["functional_tf_ops"](), target_sparsity=0.5)
    left = pruned.prune_plan.left
    assert any(name.startswith("tf.nn.relu") for name in left)
    assert all(reason == "raw TensorFlow op (no weights)" for reason in left.values())


def test_layer_selection_by_name_class_predicate_and_skip():
    model = BUILDERS["functional_tf_ops"]()
    assert magnitude(model, target_sparsity=0.5, layers=["f1"]).prune_plan.pruned == ["f1"]
    by_class = magnitude(model, target_sparsity=0.5, layers=keras.layers.Dense)
    assert by_class.prune_plan.pruned == ["f1", "f2"]
    by_predicate = magnitude(model, target_sparsity=0.5,
                             layers=lambda layer: layer.name.startswith("c"))
    assert by_predicate.prune_plan.pruned == ["c1"]
    skipped = magnitude(model, target_sparsity=0.5, skip=["c1", "f2"])
    assert skipped.prune_plan.pruned == ["f1"]
    assert skipped.prune_plan.left["c1"] == "not selected"


def test_per_layer_sparsity_dict():
    x, y = data_for("nested")
    pruned = compile_model(magnitude(BUILDERS["nested"](), target_sparsity={"n1": 0.9, "out": 0.3},
                                     end_step=4, frequency=1))
    assert pruned.prune_plan.pruned == ["inner/n1", "out"]
    pruned.fit(x, y, batch_size=16, verbose=0)
    from tfbig.prune import sparsity_report

    got = {row.name: round(row.sparsity, 3) for row in sparsity_report(pruned).layers}
    assert got == {"inner/n1": 0.9, "out": 0.3}


def test_trains_in_plain_keras_model_without_any_callback():
    # tfmot's wrapper crashes here without UpdatePruningStep; tfbig's starts itself.
    from tfbig.prune import PruneLowMagnitude
    from tfbig.prune import PolynomialDecay

    inputs = keras.Input((4,))
    wrapper = PruneLowMagnitude(keras.layers.Dense(8),
                                pruning_schedule=PolynomialDecay(0.0, 0.5, end_step=3, frequency=1))
    model = keras.Model(inputs, wrapper(inputs))
    model.compile("sgd", "mse")
    model.fit(np.ones((12, 4)), np.ones((12, 8)), batch_size=4, verbose=0)
    assert int(wrapper.pruning_step.numpy()) == 3
    assert np.mean(wrapper.masked_weights()[0] == 0) == 0.5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(target_sparsity=1.0), "target_sparsity=1.0"),
        (dict(target_sparsity=-0.1), "target_sparsity=-0.1"),
        (dict(target_sparsity=0.5, begin_step=10, end_step=5), "begin_step=10, end_step=5"),
        (dict(target_sparsity=0.5, begin_epoch=3, end_epoch=1), "begin_epoch=3, end_epoch=1"),
        (dict(target_sparsity=0.5, layers=["nope"]), "No layer named 'nope'"),
        (dict(target_sparsity=0.5, skip=["nope"]), "No layer named 'nope'"),
        (dict(target_sparsity={"nope": 0.5}), "No layer named 'nope'"),
        (dict(target_sparsity=0.5, layers=lambda layer: False), "Nothing to prune"),
        (dict(), "Received: target_sparsity=None"),
        (dict(target_sparsity={"n1": 0.5}, layers=["out"]), "drop `layers`"),
        (dict(target_sparsity=0.5, ranking="all"), "Received: ranking='all'"),
        (dict(target_sparsity=0.5, ranking="global", sparsity_m_by_n=(2, 4)), "ranking='global'"),
    ],
)
def test_bad_input_names_the_culprit(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        magnitude(BUILDERS["nested"](), **kwargs)


def test_nothing_prunable_in_model():
    model = keras.Sequential([keras.layers.Flatten(input_shape=(4, 4)), keras.layers.ReLU()])
    with pytest.raises(ValueError, match="Nothing to prune in model"):
        magnitude(model, target_sparsity=0.5)


def test_keras3_model_and_non_model_are_type_errors():
    import keras as keras3

    k3 = keras3.Sequential([keras3.layers.Dense(2)])
    with pytest.raises(TypeError, match="Keras 3"):
        magnitude(k3, target_sparsity=0.5)
    with pytest.raises(TypeError, match="must be a tf_keras `Model`"):
        magnitude(keras.layers.Dense(2), target_sparsity=0.5)


def test_unbuilt_subclassed_model_is_refused():
    from tests.prune.conftest import SubclassedNet

    with pytest.raises(ValueError, match="has never been called"):
        magnitude(SubclassedNet(), target_sparsity=0.5)


def test_already_pruned_model_is_refused():
    pruned = magnitude(BUILDERS["sequential"](), target_sparsity=0.5)
    with pytest.raises(ValueError, match="already a pruning wrapper"):
        magnitude(pruned, target_sparsity=0.5)


def test_fit_adds_pruning_callback_once(monkeypatch):
    from tfbig.prune import PruningCallback
    from tfbig.prune import models

    started = []

    class Counting(PruningCallback):
        def on_train_begin(self, logs=None):
            started.append(self)
            super().on_train_begin(logs)

    monkeypatch.setattr(models, "PruningCallback", Counting)
    x, y = data_for("sequential", n=16)
    pruned = compile_model(magnitude(BUILDERS["sequential"](), target_sparsity=0.5))
    pruned.fit(x, y, batch_size=16, verbose=0)
    assert len(started) == 1  # added by fit
    mine = Counting()
    pruned.fit(x, y, batch_size=16, verbose=0, callbacks=[mine])
    assert started[1:] == [mine]  # the user's own, no second one


def test_tfmot_pruning_policy_filters_layers():
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_policy

    class DenseOnly(pruning_policy.PruningPolicy):
        def allow_pruning(self, layer):
            return isinstance(layer, keras.layers.Dense)

        def ensure_model_supports_pruning(self, model):
            if not isinstance(model, keras.Model):
                raise ValueError("not a model")

    pruned = magnitude(BUILDERS["functional_tf_ops"](), target_sparsity=0.5,
                       pruning_policy=DenseOnly())
    assert pruned.prune_plan.pruned == ["f1", "f2"]
    with pytest.raises(TypeError, match="PruningPolicy"):
        magnitude(BUILDERS["functional_tf_ops"](), target_sparsity=0.5, pruning_policy="dense")
