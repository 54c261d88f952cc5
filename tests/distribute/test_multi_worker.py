"""Real multi-worker training: 2 processes on loopback ports, started by the launcher."""

import json
import os
import sys

import numpy as np
import pytest

from tfbig.distribute import launch_workers
from tests.distribute import mw_worker

pytestmark = [pytest.mark.multiworker, pytest.mark.slow]
_WORKER = [sys.executable, os.path.abspath(mw_worker.__file__)]
_TIMEOUT = 300


def _load(out, rank):
    with np.load(os.path.join(out, f"worker{rank}.npz")) as f:
        meta = json.loads(str(f["meta"]))
        weights = [f[f"arr_{i}"] for i in range(len(f.files) - 1)]
    return meta, weights


def _assert_same_weights(a, b, atol):
    assert len(a) == len(b)
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(wa, wb, atol=atol)


def test_two_workers_match_single_process_with_accumulation(tmp_path):
    """Weights identical on both workers, equal to one process with the same
    global batch (gradient accumulation k=2 included); only the chief exports."""
    out = str(tmp_path)
    result = launch_workers(_WORKER + ["--out", out, "--accum", "2", "--save_freq", "50"],
                            num_workers=2, timeout=_TIMEOUT)
    assert result.returncode == 0, result.message + "\n" + "\n".join(result.outputs)
    (meta0, w0), (meta1, w1) = _load(out, 0), _load(out, 1)
    assert meta0["strategy"] == "CollectiveAllReduceStrategy" and meta0["replicas"] == 2
    assert (meta0["chief"], meta1["chief"]) == (True, False)
    _assert_same_weights(w0, w1, atol=0)
    # 200 examples / global batch 32 = 7 micro-steps (last one partial) x 2 epochs
    assert meta0["micro_steps"] == 14 and meta0["iterations"] == 7

    import tensorflow as tf

    args = mw_worker.parse(["--out", out, "--accum", "2"])
    model, history = mw_worker.train(tf.distribute.get_strategy(), args)
    np.testing.assert_allclose(meta0["loss"], history.history["loss"], rtol=1e-4)
    _assert_same_weights(w0, model.get_weights(), atol=1e-5)
    assert os.path.exists(os.path.join(out, "export.keras"))
    assert meta1["wrote"] != meta0["wrote"] and not os.path.exists(os.path.dirname(meta1["wrote"]))


def test_worker_failure_resumes_from_backup_with_restarts(tmp_path):
    """2 workers x 2 logical CPUs; worker 1 dies after step 5 of 14; with one restart the
    job resumes from the step-3 backup and ends with exactly 14 steps (7 updates)."""
    out = str(tmp_path)
    result = launch_workers(
        _WORKER + ["--out", out, "--accum", "2", "--die_at", "5", "--save_freq", "3"],
        num_workers=2, devices_per_worker=2, max_restarts=1, backoff_s=0.2, timeout=_TIMEOUT)
    assert result.returncode == 0, result.message + "\n" + "\n".join(result.outputs)
    assert result.restarts == 1
    assert "worker 1 dies at step 5" in result.outputs[1]
    (meta0, w0), (meta1, w1) = _load(out, 0), _load(out, 1)
    assert meta0["replicas"] == 4 and meta0["restart"] == 1
    assert meta0["micro_steps"] == meta1["micro_steps"] == 14
    assert meta0["iterations"] == 7
    _assert_same_weights(w0, w1, atol=0)
    assert not os.path.exists(os.path.join(out, "backup", "chief"))  # deleted at the end


def test_worker_failure_without_restarts_names_the_worker(tmp_path):
    result = launch_workers(
        _WORKER + ["--out", str(tmp_path), "--die_at", "1", "--epochs", "1"],
        num_workers=2, max_restarts=0, timeout=_TIMEOUT)
    assert result.returncode == 17
    assert result.failed_worker == 1 and "worker 1 failed with exit code 17" in result.message
    assert not os.path.exists(os.path.join(tmp_path, "worker0.npz"))


