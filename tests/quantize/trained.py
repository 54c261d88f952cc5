"""Tiny models trained once per test process, shared by tests/quantize and tests/export.

Each builder is cached, so whichever test asks first pays for the training.
"""

import functools

import numpy as np

from tfbig import keras
from tfbig.data import load_digits


def compile_for_digits(model, learning_rate=1e-3):
    model.compile(
        keras.optimizers.Adam(learning_rate),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, batch_size=256, verbose=0), -1) == y))


@functools.lru_cache(maxsize=None)
def digits():
    (x, y), (xt, yt) = load_digits("train"), load_digits("test")
    return x, y, xt, yt


@functools.lru_cache(maxsize=None)
def float_cnn():
    """The reference CNN (slimmed), trained on digits."""
    from tfbig.models import cnn

    x, y, _, _ = digits()
    keras.utils.set_random_seed(1)
    model = compile_for_digits(cnn(filters=(16, 32), dense_units=32))
    model.fit(x, y, batch_size=32, epochs=6, verbose=0)
    return model


@functools.lru_cache(maxsize=None)
def qat_cnn():
    """QAT fine-tune of ``float_cnn``."""
    from tfbig.quantize import qat

    x, y, _, _ = digits()
    keras.utils.set_random_seed(2)
    model = compile_for_digits(qat(float_cnn()), 2e-4)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    return model


@functools.lru_cache(maxsize=None)
def float_transformer():
    """The reference transformer (one block), trained on digits rows."""
    from tfbig.models import transformer

    x, y, _, _ = digits()
    keras.utils.set_random_seed(3)
    model = compile_for_digits(transformer(num_layers=1, dropout=0.0))
    model.fit(x, y, batch_size=32, epochs=12, verbose=0)
    return model


@functools.lru_cache(maxsize=None)
def qat_transformer():
    """QAT fine-tune of ``float_transformer``."""
    from tfbig.quantize import qat

    x, y, _, _ = digits()
    keras.utils.set_random_seed(4)
    model = compile_for_digits(qat(float_transformer()), 2e-4)
    model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    return model
