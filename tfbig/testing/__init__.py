"""Test helpers shared by tfbig's own suite (and usable by users' tests).

Domain assertions live beside the generic ones, one file per area
(``tfbig/testing/<area>.py``); this module holds the generic helpers.
"""

import os
import socket
import tempfile

import numpy as np

__all__ = [
    "mirrored_strategy",
    "assert_weights_close",
    "run_saving_test",
    "free_port",
]


def mirrored_strategy(num_replicas):
    """A ``MirroredStrategy`` over the first ``num_replicas`` logical CPU devices.

    The test suite splits the CPU into 4 logical devices in ``tests/conftest.py``.
    It is built by ``tfbig.distribute.strategy("mirrored", ...)``, which reduces
    through one device on CPUs, so strategies of different sizes can live in one
    process (TF's default NCCL-style all-reduce on CPUs cannot).
    """
    import tensorflow as tf

    from tfbig.distribute import strategy

    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(devices) < num_replicas:
        raise ValueError(
            f"Need {num_replicas} logical CPU devices but only {len(devices)} exist; "
            "call tfbig.distribute.set_logical_devices first. "
            f"Received: num_replicas={num_replicas}"
        )
    return strategy("mirrored", devices=devices[:num_replicas])


def assert_weights_close(model_a, model_b, atol=1e-5, rtol=0.0):
    """Asserts two models have the same weights (by position) within tolerance."""
    wa, wb = model_a.get_weights(), model_b.get_weights()
    if len(wa) != len(wb):
        raise AssertionError(f"weight counts differ: {len(wa)} vs {len(wb)}")
    for i, (a, b) in enumerate(zip(wa, wb)):
        np.testing.assert_allclose(
            a, b, atol=atol, rtol=rtol, err_msg=f"weight #{i} ({a.shape}) differs"
        )


def run_saving_test(model, x, formats=("keras", "h5", "savedmodel"), atol=1e-6, directory=None):
    """Saves ``model`` in each format, loads it back *without* custom_objects or
    scopes, and asserts the loaded model's outputs on ``x`` equal the original's.

    Returns:
        A dict ``format -> loaded model``.
    """
    from tfbig._backend import keras

    expected = np.asarray(model(x, training=False))
    directory = directory or tempfile.mkdtemp(prefix="tfbig_saving_")
    loaded = {}
    for fmt in formats:
        path = os.path.join(directory, {"keras": "m.keras", "h5": "m.h5", "savedmodel": "m_sm"}[fmt])
        if fmt == "savedmodel":
            model.save(path, save_format="tf")
        else:
            model.save(path)
        restored = keras.models.load_model(path)
        got = np.asarray(restored(x, training=False))
        np.testing.assert_allclose(got, expected, atol=atol, err_msg=f"format {fmt!r}")
        loaded[fmt] = restored
    return loaded


def free_port(host="127.0.0.1"):
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
