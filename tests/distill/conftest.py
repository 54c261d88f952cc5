"""Fixtures shared by the distillation tests (models and helpers: _models.py)."""

import pytest

from tfbig import keras


@pytest.fixture
def scce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.fixture(scope="module")
def batch(digits_train):
    x, y = digits_train
    return x[:64], y[:64]
