"""Shared test set-up: 4 logical CPU devices for the whole session.

Logical devices must exist before TensorFlow initializes, so they are made
here, at collection time. ``tfbig.testing.mirrored_strategy(n)`` then gives a
MirroredStrategy over the first n of them.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from tfbig.distribute.devices import set_logical_devices  # noqa: E402

NUM_LOGICAL_CPUS = 4
set_logical_devices(NUM_LOGICAL_CPUS)


@pytest.fixture(scope="session")
def digits_train():
    from tfbig.data import load_digits

    return load_digits("train")


@pytest.fixture(scope="session")
def digits_test():
    from tfbig.data import load_digits

    return load_digits("test")
