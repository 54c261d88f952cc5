import os

import keras as keras3
import numpy as np
import pytest
import tensorflow as tf

from tfbig import keras
from tfbig.distill import Distiller
from tfbig.distill import FeatureLoss
from tfbig.distill import LogitsLoss
from tfbig.models import mlp
from tfbig.testing import assert_weights_close
from tfbig.testing import run_saving_test

from tests.distill._models import mirrored
from tests.distill._models import InlineFeatureNet
from tests.distill._models import SubclassedNet
from tests.distill._models import sequential_mlp


def _functional(width, name):
    return mlp(hidden=(width,), dropout=0.0, name=name)


def _subclassed(width, name):
    model = SubclassedNet(width, name=name)
    model.build((None, 8, 8, 1))
    return model


def _subclassed_called(width, name):
    model = SubclassedNet(width, name=name)
    model(tf.zeros((1, 8, 8, 1)))
    return model


BUILDERS = {
    "sequential": lambda w, n: sequential_mlp(w, n),
    "functional": _functional,
    "subclassed": _subclassed,
    "subclassed_called": _subclassed_called,
}
HIDDEN = {"sequential": "hidden", "functional": "dense1", "subclassed": "hidden",
          "subclassed_called": "hidden"}


# ---------------------------------------------------------------- bad input


def test_logits_of_different_shapes():
    teacher = _functional(16, "t")
    student = mlp(hidden=(8,), num_classes=5, name="s")
    with pytest.raises(ValueError, match=r"same shape.*teacher output shape=\(2, 10\), "
                       r"student output shape=\(2, 5\)"):
        Distiller(teacher, student, [LogitsLoss()])


def test_unknown_layer_names():
    teacher, student = _functional(16, "t"), _functional(8, "s")
    with pytest.raises(ValueError, match="teacher model 't' has no layer named 'fc'.*"
                       "dense1.*Received: teacher_layer='fc'"):
        Distiller(teacher, student, [FeatureLoss("fc", "dense1")])
    with pytest.raises(ValueError, match="student model 's' has no layer named 'nope'.*"
                       "Received: student_layer='nope'"):
        Distiller(teacher, student, [FeatureLoss("dense1", "nope")])


def test_teacher_not_built():
    teacher = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10)], name="t")
    with pytest.raises(ValueError, match="teacher 't' is not built.*Received: teacher='t'"):
        Distiller(teacher, _functional(8, "s"), [LogitsLoss()])


def test_keras3_models_are_rejected():
    k3 = keras3.Sequential([keras3.Input((8, 8, 1)), keras3.layers.Flatten(),
                            keras3.layers.Dense(10)])
    with pytest.raises(TypeError, match="`teacher` is a Keras 3 object"):
        Distiller(k3, _functional(8, "s"), [LogitsLoss()])
    with pytest.raises(TypeError, match="`student` is a Keras 3 object"):
        Distiller(_functional(8, "t"), k3, [LogitsLoss()])


def test_bad_losses_and_alpha():
    teacher, student = _functional(16, "t"), _functional(8, "s")
    with pytest.raises(ValueError, match="Received: alpha=1.5"):
        Distiller(teacher, student, [LogitsLoss()], alpha=1.5)
    with pytest.raises(ValueError, match="non-empty list"):
        Distiller(teacher, student, [])
    with pytest.raises(TypeError, match="DistillationLoss"):
        Distiller(teacher, student, [keras.losses.KLDivergence()])
    with pytest.raises(ValueError, match="two different models"):
        Distiller(teacher, teacher, [LogitsLoss()])


def test_subclassed_feature_not_from_a_layer_gives_clear_error():
    student = InlineFeatureNet(8, name="inline")
    student(tf.zeros((1, 8, 8, 1)))
    with pytest.raises(ValueError, match="'hidden' of the student model 'inline' was not "
                       "called.*named Keras layer"):
        Distiller(_functional(16, "t"), student, [FeatureLoss("dense1", "hidden")])


# ------------------------------------------------------------ model kinds


@pytest.mark.parametrize("teacher_kind, student_kind", [
    ("sequential", "subclassed"), ("subclassed_called", "functional"),
    ("functional", "sequential"), ("subclassed", "subclassed_called"),
])
def test_model_kinds_train_with_logits_and_features(teacher_kind, student_kind, batch, scce):
    teacher = BUILDERS[teacher_kind](16, "t")
    student = BUILDERS[student_kind](8, "s")
    teacher_before, student_before = teacher.get_weights(), student.get_weights()
    features = FeatureLoss(HIDDEN[teacher_kind], HIDDEN[student_kind])
    distiller = Distiller(teacher, student, [LogitsLoss(), features], alpha=0.5)
    distiller.compile(keras.optimizers.SGD(0.1), scce, metrics=["accuracy"])
    logs = distiller.fit(*batch, batch_size=32, epochs=1, verbose=0).history
    assert set(logs) == {"loss", "student_loss", "distillation_loss", "accuracy"}
    assert features.projection_layer.kernel.shape == (8, 16)
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(b, a) for b, a in zip(student_before, student.get_weights()))


# ------------------------------------------------------ one step, by hand


def _pair(seed=0):
    keras.utils.set_random_seed(seed)
    return _functional(16, "t"), _functional(8, "s")


def test_one_step_equals_hand_computation(batch, scce):
    teacher, student = _pair()
    x, y = batch
    alpha, t, lr = 0.3, 2.0, 0.1
    features = FeatureLoss("dense1", "dense1", weight=0.5)
    distiller = Distiller(teacher, student, [LogitsLoss(temperature=t), features], alpha=alpha)
    distiller.compile(keras.optimizers.SGD(lr), scce)
    variables = student.trainable_variables + [features.projection_layer.kernel]
    start = [v.numpy() for v in variables]

    hidden_t = keras.Model(teacher.input, [teacher.output, teacher.get_layer("dense1").output])
    hidden_s = keras.Model(student.input, [student.output, student.get_layer("dense1").output])
    logits_t, feat_t = hidden_t(x, training=False)
    with tf.GradientTape() as tape:
        logits_s, feat_s = hidden_s(x, training=True)
        ce = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(y.astype("int64"), logits_s))
        p = tf.nn.softmax(logits_t / t)
        kl = tf.reduce_mean(tf.reduce_sum(
            p * (tf.math.log(p) - tf.nn.log_softmax(logits_s / t)), -1)) * t * t
        mse = tf.reduce_mean(tf.square(feat_t - feat_s @ variables[-1]))
        total = alpha * ce + (1 - alpha) * (kl + 0.5 * mse)
    grads = tape.gradient(total, variables)
    expected = [w - lr * g.numpy() for w, g in zip(start, grads)]

    logs = distiller.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0).history
    for want, var in zip(expected, variables):
        np.testing.assert_allclose(var.numpy(), want, atol=1e-6)
    np.testing.assert_allclose(logs["loss"][0], float(total), rtol=1e-5)
    np.testing.assert_allclose(logs["student_loss"][0], float(ce), rtol=1e-5)
    np.testing.assert_allclose(logs["distillation_loss"][0], float(kl + 0.5 * mse), rtol=1e-5)


def test_evaluate_reports_the_objective_and_the_student_metrics(batch, scce):
    teacher, student = _pair()
    distiller = Distiller(teacher, student, [LogitsLoss()], alpha=0.25)
    distiller.compile("adam", scce, metrics=["accuracy"])
    student.compile("adam", scce, metrics=["accuracy"])
    x, y = batch
    got = distiller.evaluate(x, y, verbose=0, return_dict=True)
    want = student.evaluate(x, y, verbose=0, return_dict=True)
    assert set(got) == {"loss", "student_loss", "distillation_loss", "accuracy"}
    np.testing.assert_allclose([got["student_loss"], got["accuracy"]],
                               [want["loss"], want["accuracy"]], rtol=1e-5)
    distillation = float(LogitsLoss()(teacher(x), student(x)))
    np.testing.assert_allclose(got["distillation_loss"], distillation, rtol=1e-5)
    np.testing.assert_allclose(got["loss"], 0.25 * want["loss"] + 0.75 * distillation, rtol=1e-5)
    np.testing.assert_allclose(distiller.predict(x, verbose=0), student.predict(x, verbose=0))


# ------------------------------------------------------ distribution


def _distill(strategy, batch, scce, epochs=1):
    with strategy.scope():
        teacher, student = _pair()
        features = FeatureLoss("dense1", "dense1")
        distiller = Distiller(teacher, student, [LogitsLoss(), features], alpha=0.2)
        distiller.compile(keras.optimizers.SGD(0.1), scce)
    distiller.fit(*batch, batch_size=32, epochs=epochs, shuffle=False, verbose=0)
    return distiller


def test_mirrored_step_equals_single_device(batch, scce):
    single = _distill(tf.distribute.get_strategy(), batch, scce)
    distributed = _distill(mirrored(2), batch, scce)
    assert_weights_close(single.student, distributed.student, atol=1e-5)
    np.testing.assert_allclose(
        single.distillation_losses[1].projection_layer.kernel.numpy(),
        distributed.distillation_losses[1].projection_layer.kernel.numpy(), atol=1e-5)


# ------------------------------------------------------ saving and resuming


def test_student_saves_alone_without_projection(batch, scce, tmp_path):
    teacher, student = _pair()
    params = student.count_params()
    distiller = Distiller(teacher, student, [FeatureLoss("dense1", "dense1")])
    distiller.compile("adam", scce)
    distiller.fit(*batch, epochs=1, verbose=0)
    assert distiller.student is student and student.count_params() == params
    loaded = run_saving_test(distiller.student, batch[0], formats=("keras", "h5"),
                             directory=str(tmp_path))
    assert loaded["keras"].count_params() == params


def test_save_load_resume_equals_uninterrupted(batch, scce, tmp_path):
    def make():
        teacher, student = _pair()
        distiller = Distiller(teacher, student,
                              [LogitsLoss(temperature=4.0), FeatureLoss("dense1", "dense1")])
        distiller.compile(keras.optimizers.Adam(1e-2), scce, metrics=["accuracy"])
        return distiller

    x, y = batch
    original = make()
    original.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    path = os.path.join(tmp_path, "distiller.keras")
    original.save(path)
    restored = keras.models.load_model(path)  # no custom_objects: registered classes
    assert type(restored) is Distiller
    assert restored.get_config()["alpha"] == original.alpha
    assert_weights_close(original, restored, atol=0)
    original.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    restored.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert_weights_close(original.student, restored.student, atol=1e-6)
    np.testing.assert_allclose(
        original.distillation_losses[1].projection_layer.kernel.numpy(),
        restored.distillation_losses[1].projection_layer.kernel.numpy(), atol=1e-6)


def test_backup_and_restore_checkpoint_resumes(batch, scce, tmp_path):
    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise RuntimeError("interrupted")

    def make():
        teacher, student = _pair()
        distiller = Distiller(teacher, student, [LogitsLoss(), FeatureLoss("dense1", "dense1")])
        distiller.compile(keras.optimizers.Adam(1e-2), scce)
        return distiller

    x, y = batch
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    first = make()
    with pytest.raises(RuntimeError, match="interrupted"):
        first.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                  callbacks=[backup, StopAfterFirstEpoch()])
    resumed = make()
    resumed.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[backup])
    straight = make()
    straight.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert_weights_close(straight.student, resumed.student, atol=1e-6)


def test_subclassed_models_unbuilt_student_save_and_load(batch, scce, tmp_path):
    teacher = _subclassed_called(16, "t")
    student = SubclassedNet(8, name="s")  # not built: the Distiller builds it
    distiller = Distiller(teacher, student, [LogitsLoss(), FeatureLoss("hidden", "hidden")])
    assert student.built
    distiller.compile("adam", scce)
    distiller.fit(*batch, epochs=1, verbose=0)
    path = str(tmp_path / "subclassed.keras")
    distiller.save(path)
    restored = keras.models.load_model(path)
    assert type(restored.student) is SubclassedNet
    np.testing.assert_allclose(restored.predict(batch[0], verbose=0),
                               distiller.predict(batch[0], verbose=0), atol=1e-6)
    assert_weights_close(distiller, restored, atol=0)


def test_pure_distillation_without_labels(batch):
    teacher, student = _pair()
    distiller = Distiller(teacher, student, [LogitsLoss()], alpha=0.0)
    distiller.compile(keras.optimizers.SGD(0.1))
    before = student.get_weights()
    logs = distiller.fit(batch[0], batch_size=32, epochs=1, verbose=0).history
    assert logs["student_loss"] == [0.0] and logs["loss"] == logs["distillation_loss"]
    assert any(not np.array_equal(b, a) for b, a in zip(before, student.get_weights()))
    needs_labels = Distiller(teacher, _functional(8, "s2"), [LogitsLoss()], alpha=0.5)
    needs_labels.compile(keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match="compile the Distiller with `loss=`.*Received: alpha=0.5"):
        needs_labels.fit(batch[0], epochs=1, verbose=0)
