"""Logical devices: the session already split the CPU into 4 (tests/conftest.py)."""

import pytest

from tfbig.distribute import logical_device_names
from tfbig.distribute import set_logical_devices


def test_same_split_again_is_a_no_op():
    names = set_logical_devices(4)
    assert names == logical_device_names("CPU") and len(names) == 4
    assert names[1].endswith("CPU:1")


def test_a_different_split_after_tf_initialized_says_how_to_fix():
    logical_device_names()  # make sure TensorFlow is initialized
    with pytest.raises(RuntimeError, match="already initialized.*start of the program"):
        set_logical_devices(2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_devices": 0}, "num_devices=0"),
        ({"num_devices": 2, "device_type": "TPU"}, "device_type='TPU'"),
        ({"num_devices": 2, "device_type": "GPU"}, "memory_limit_mb=None"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        set_logical_devices(**kwargs)
