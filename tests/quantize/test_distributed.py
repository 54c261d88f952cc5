"""QAT under MirroredStrategy (2 and 4 logical CPUs) and MultiWorker (2 processes).

Fake quantization rounds every activation to an 8-bit grid, so the float
noise of a different all-reduce order can move a value across a rounding
boundary: distributed and single-device QAT agree to within a few quantization
steps, not bit for bit. The tests pin that:
a mean logit difference under half an output quantization step and none over four.
"""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.quantize import mw_worker


@pytest.fixture(scope="module")
def single_device():
    return mw_worker.train(tf.distribute.get_strategy())[1]


def _mirrored(num_replicas):
    # Reduction to one device: tfbig.testing.mirrored_strategy's default
    # collective all-reduce fails when a 2- and a 4-replica strategy share a process.
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:num_replicas]
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())


def _output_step(predictions):
    """The logits fake-quantizer's step: outputs lie on its 8-bit grid."""
    spacing = np.diff(np.unique(predictions))
    return spacing[spacing > 1e-4].min()


def _assert_close(got, want):
    step = _output_step(want)
    diff = np.abs(got - want) / step
    assert diff.mean() <= 0.5 and diff.max() <= 4, (diff.mean(), diff.max(), step)


@pytest.mark.slow
@pytest.mark.parametrize("replicas", [2, 4])
def test_mirrored_equals_single_device(single_device, replicas):
    model, predictions = mw_worker.train(_mirrored(replicas))
    assert model.distribute_strategy.num_replicas_in_sync == replicas
    _assert_close(predictions, single_device)


@pytest.mark.slow
@pytest.mark.multiworker
def test_two_workers_equal_single_device(single_device, tmp_path):
    from tfbig.distribute import launch_workers

    result = launch_workers([sys.executable, os.path.abspath(mw_worker.__file__), "--out",
                             str(tmp_path)], num_workers=2, timeout=400)
    assert result.returncode == 0, "\n".join(result.outputs)[-5000:]
    outputs = [np.load(tmp_path / f"worker{rank}.npz") for rank in (0, 1)]
    assert "CollectiveAllReduce" in str(outputs[0]["meta"]) and '"replicas": 2' in str(outputs[0]["meta"])
    np.testing.assert_array_equal(outputs[0]["predictions"], outputs[1]["predictions"])
    _assert_close(outputs[0]["predictions"], single_device)
