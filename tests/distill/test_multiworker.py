"""A Distiller under MultiWorkerMirroredStrategy: 2 real processes on loopback."""

import json
import os
import sys

import numpy as np
import pytest

from tfbig.distribute import launch_workers

from tests.distill import mw_worker

pytestmark = [pytest.mark.multiworker, pytest.mark.slow]


def _load(path):
    with np.load(path) as f:
        meta = json.loads(str(f["meta"]))
        return meta, [f[f"arr_{i}"] for i in range(len(f.files) - 1)]


def test_two_workers_equal_single_process(tmp_path):
    out = str(tmp_path)
    result = launch_workers([sys.executable, os.path.abspath(mw_worker.__file__), "--out", out],
                            num_workers=2, timeout=300)
    assert result.returncode == 0, "\n".join(result.outputs)
    (meta0, w0), (meta1, w1) = (_load(os.path.join(out, f"worker{r}.npz")) for r in (0, 1))
    assert meta0["strategy"] == "CollectiveAllReduceStrategy" and meta0["replicas"] == 2
    assert len(w0) == 5  # student kernel/bias x2 + the feature projection
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)

    import tensorflow as tf

    reference, history = mw_worker.train(tf.distribute.get_strategy())
    for got, want in zip(w0, reference.trainable_weights):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    for key in ("loss", "student_loss", "distillation_loss"):
        np.testing.assert_allclose(meta0["history"][key], history.history[key], rtol=1e-4,
                                   err_msg=f"{key}: {meta0['history']} vs {history.history}")
