"""Digits: a distilled student (<= 25 % of the teacher's parameters) matches the
teacher within 0.5 point and beats the same student trained alone (3 seeds).

Recipe (also in benchmarks/distillation.py): teacher cnn(16, 32, 32)+fc64,
20 epochs; student cnn(16, 32) without a dense layer, 30 epochs; Adam 3e-3,
batch 64; LogitsLoss(temperature=2), alpha=0.5, cached teacher outputs.
"""

import numpy as np
import pytest
from absl import logging

from tfbig import keras
from tfbig.distill import Distiller
from tfbig.distill import LogitsLoss
from tfbig.distill import cache_teacher_outputs
from tfbig.models import cnn

SEEDS = (1, 2, 3)
EPOCHS = 30


def _scce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _accuracy(model, data):
    x, y = data
    return float(np.mean(np.argmax(model.predict(x, batch_size=360, verbose=0), -1) == y))


def _student(seed):
    keras.utils.set_random_seed(seed)
    return cnn(filters=(16, 32), dense_units=None, dropout=0.0, name="student")


@pytest.fixture(scope="module")
def teacher(digits_train):
    keras.utils.set_random_seed(0)
    model = cnn(filters=(16, 32, 32), dense_units=64, name="teacher")
    model.compile(keras.optimizers.Adam(3e-3), _scce())
    model.fit(*digits_train, batch_size=64, epochs=20, verbose=0)
    return model


@pytest.fixture(scope="module")
def scratch_accuracies(digits_train, digits_test):
    accuracies = []
    for s in SEEDS:
        student = _student(s)
        student.compile(keras.optimizers.Adam(3e-3), _scce())
        student.fit(*digits_train, batch_size=64, epochs=EPOCHS, verbose=0)
        accuracies.append(_accuracy(student, digits_test))
    return accuracies


@pytest.fixture(scope="module")
def distilled_accuracies(teacher, digits_train, digits_test):
    accuracies = []
    for s in SEEDS:
        distiller = Distiller(teacher=teacher, student=_student(s),
                              distillation_losses=[LogitsLoss(temperature=2.0)], alpha=0.5)
        distiller.compile(keras.optimizers.Adam(3e-3), _scce())
        data = cache_teacher_outputs(distiller, *digits_train, batch_size=64, seed=s)
        distiller.fit(data, epochs=EPOCHS, verbose=0)
        accuracies.append(_accuracy(distiller.student, digits_test))
    return accuracies


@pytest.mark.slow
def test_distilled_student_matches_teacher_and_beats_scratch(
    teacher, scratch_accuracies, distilled_accuracies, digits_test
):
    teacher_accuracy = _accuracy(teacher, digits_test)
    fraction = _student(0).count_params() / teacher.count_params()
    scratch, distilled = np.mean(scratch_accuracies), np.mean(distilled_accuracies)
    logging.info(
        "digits distillation: teacher %.4f, scratch %s (mean %.4f), distilled %s "
        "(mean %.4f), student/teacher params %.3f", teacher_accuracy, scratch_accuracies,
        scratch, distilled_accuracies, distilled, fraction)
    assert fraction <= 0.25
    assert distilled >= scratch, (distilled_accuracies, scratch_accuracies)
    assert distilled >= teacher_accuracy - 0.005, (distilled_accuracies, teacher_accuracy)
