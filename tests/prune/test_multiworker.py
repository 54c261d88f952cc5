"""Pruning under MultiWorkerMirroredStrategy: 2 real processes on loopback."""

import json
import os
import sys

import numpy as np
import pytest

from tfbig.distribute import launch_workers
from tests.prune import mw_worker

pytestmark = [pytest.mark.multiworker, pytest.mark.slow]


def test_every_model_kind_reaches_target_with_identical_masks(tmp_path):
    out = str(tmp_path)
    result = launch_workers([sys.executable, os.path.abspath(mw_worker.__file__), "--out", out],
                            num_workers=2, timeout=600)
    assert result.returncode == 0, "\n".join(result.outputs)
    summaries = []
    for rank in (0, 1):
        with open(os.path.join(out, f"summary{rank}.json")) as f:
            summaries.append(json.load(f))
    assert summaries[0]["strategy"] == "CollectiveAllReduceStrategy"
    assert summaries[0]["replicas"] == 2
    for key, value in summaries[0].items():
        if not isinstance(value, dict):
            continue
        assert abs(value["overall"] - 0.7) <= 0.005, (key, value)
        if key.endswith("-layer"):
            assert all(abs(s - 0.7) <= 0.005 for s in value["layers"].values()), (key, value)
        else:  # global ranking: per-layer sparsities differ
            assert max(value["layers"].values()) - min(value["layers"].values()) > 0.05
    assert summaries[0] == summaries[1]
    with np.load(os.path.join(out, "masks0.npz")) as m0, np.load(os.path.join(out, "masks1.npz")) as m1:
        assert sorted(m0.files) == sorted(m1.files) and len(m0.files) >= 15
        for name in m0.files:
            np.testing.assert_array_equal(m0[name], m1[name], err_msg=name)
