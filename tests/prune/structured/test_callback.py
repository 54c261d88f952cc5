"""Gradual structured pruning in fit, then removal; digits with distillation."""

import numpy as np
import pytest

import tfbig.testing
from tfbig import keras
from tfbig.distill import Distiller
from tfbig.distill import LogitsLoss
from tfbig.models import cnn
from tfbig.models import mlp
from tfbig.prune import structured as sp

SCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_schedule_rises_to_ratio():
    cb = sp.GradualStructuredPruning(ratio=0.5, begin_step=10, end_step=20, frequency=5)
    assert cb.ratio_at(0) == 0.0 and cb.ratio_at(10) == 0.0
    assert 0.0 < cb.ratio_at(13) < cb.ratio_at(17) < 0.5
    assert cb.ratio_at(20) == cb.ratio_at(99) == 0.5


def test_bad_arguments():
    with pytest.raises(ValueError, match="end_step.*begin_step=5, end_step=5"):
        sp.GradualStructuredPruning(begin_step=5, end_step=5)
    with pytest.raises(ValueError, match="remove every channel"):
        sp.GradualStructuredPruning(ratio=1.0)
    with pytest.raises(ValueError, match="frequency"):
        sp.GradualStructuredPruning(frequency=0)
    with pytest.raises(ValueError, match="call `fit`"):
        sp.GradualStructuredPruning().prune_model()


def test_mirrored_fit_zeroes_channels_and_removal_is_exact(digits_train):
    x, y = digits_train
    with tfbig.testing.mirrored_strategy(2).scope():
        model = mlp(hidden=(32, 16), dropout=0.0)
        model.compile(keras.optimizers.Adam(1e-2), SCE)
    cb = sp.GradualStructuredPruning(ratio=0.5, end_step=6, frequency=2)
    model.fit(x[:320], y[:320], batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    kernel = model.get_layer("dense1").get_weights()[0]
    assert np.count_nonzero(np.abs(kernel).sum(0) == 0) == 16
    small = cb.prune_model()
    assert small.get_layer("dense1").units == 16 and small.get_layer("dense2").units == 8
    np.testing.assert_allclose(small.predict(x[:64], verbose=0),
                               model.predict(x[:64], verbose=0), atol=1e-5)


def test_digits_cnn_half_channels_with_distillation(digits_train, digits_test):
    (x, y), (xt, yt) = digits_train, digits_test
    keras.utils.set_random_seed(0)
    teacher = cnn()
    teacher.compile(keras.optimizers.Adam(2e-3), SCE, metrics=["accuracy"])
    teacher.fit(x, y, batch_size=32, epochs=10, verbose=0)
    base = teacher.evaluate(xt, yt, verbose=0)[1]

    student = keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    distiller = Distiller(teacher=teacher, student=student,
                          distillation_losses=[LogitsLoss(temperature=4.0)], alpha=0.1)
    distiller.compile(keras.optimizers.Adam(1e-3), SCE, metrics=["accuracy"])
    steps = int(np.ceil(len(x) / 32))
    pruner = sp.GradualStructuredPruning(ratio=0.5, end_step=2 * steps, frequency=steps // 2,
                                         model=student, round_to=8)
    distiller.fit(x, y, batch_size=32, epochs=6, verbose=0, callbacks=[pruner])
    small = pruner.prune_model()
    small.compile(loss=SCE, metrics=["accuracy"])
    pruned = small.evaluate(xt, yt, verbose=0)[1]

    assert [small.get_layer(n).filters for n in ("conv1", "conv2", "conv3")] == [16, 32, 32]
    assert small.count_params() < 0.3 * teacher.count_params()
    print(f"digits cnn: original {base:.4f}, 50% channels {pruned:.4f}")
    assert base > 0.95
    assert pruned >= base - 0.01


def test_fitting_a_wrapper_without_model_names_the_fix():
    teacher, student = mlp(hidden=(8,)), mlp(hidden=(8,))
    distiller = Distiller(teacher=teacher, student=student,
                          distillation_losses=[LogitsLoss()], alpha=0.5)
    distiller.compile("sgd", SCE)
    cb = sp.GradualStructuredPruning(end_step=2, frequency=1)
    x, y = np.zeros((4, 8, 8, 1), "float32"), np.zeros((4,), "int32")
    with pytest.raises(TypeError, match=r"subclassed.*model=student"):
        distiller.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
