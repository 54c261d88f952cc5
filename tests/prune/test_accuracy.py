"""The reference CNN pruned to 80% stays within 1 point of the dense model on digits."""

import pytest

from tfbig import keras
from tfbig.models import cnn
from tfbig.prune import magnitude
from tfbig.prune import sparsity_report
from tfbig.prune import strip

pytestmark = pytest.mark.slow

DENSE_EPOCHS = 25
RAMP_EPOCHS = 4
FINE_TUNE_EPOCHS = 4


def _compile(model):
    model.compile(keras.optimizers.Adam(2e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def test_cnn_pruned_to_80_percent_within_one_point(digits_train, digits_test):
    (x, y), (x_test, y_test) = digits_train, digits_test
    keras.utils.set_random_seed(0)
    dense = _compile(cnn())
    dense.fit(x, y, batch_size=64, epochs=DENSE_EPOCHS, verbose=0)
    dense_accuracy = dense.evaluate(x_test, y_test, verbose=0)[1]

    pruned = _compile(magnitude(dense, target_sparsity=0.8, begin_epoch=0,
                                end_epoch=RAMP_EPOCHS, frequency_epochs=0.25))
    pruned.fit(x, y, batch_size=64, epochs=RAMP_EPOCHS + FINE_TUNE_EPOCHS, verbose=0)
    stripped = _compile(strip(pruned))
    pruned_accuracy = stripped.evaluate(x_test, y_test, verbose=0)[1]
    report = sparsity_report(stripped)
    print(f"dense accuracy {dense_accuracy:.4f}, pruned (80%) accuracy {pruned_accuracy:.4f}\n"
          f"{report}")
    assert dense_accuracy > 0.95
    assert abs(sparsity_report(pruned).overall - 0.8) <= 0.005
    assert pruned_accuracy >= dense_accuracy - 0.010
