"""The local launcher: processes, TF_CONFIG, prefixes, failure and restarts.

These workers are plain Python (no TensorFlow), so they are fast; the
TensorFlow multi-worker runs are in test_multi_worker.py.
"""

import io
import subprocess
import sys
import time

import pytest

from tfbig.distribute import launch_workers
from tfbig.distribute.launch import main

_SHOW = (
    "import json, os; c = json.loads(os.environ['TF_CONFIG']); "
    "print(c['task']['index'], len(c['cluster']['worker']), c['cluster']['worker'][0], "
    "os.environ['TFBIG_DEVICES_PER_WORKER'])"
)
# Worker 1 exits with code 3 on the first start, once worker 0 has started (a
# marker file in argv[1]); worker 0 then waits to be killed. On a restart both finish.
_FLAKY = """
import json, os, sys, time
r = os.environ["TFBIG_RESTART_COUNT"]
i = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
print("start", r, flush=True)
marker = os.path.join(sys.argv[1], "started" + r)
if i == 0:
    open(marker, "w").close()
    time.sleep(60 if r == "0" else 0.2)
elif r == "0":
    while not os.path.exists(marker):
        time.sleep(0.05)
    sys.exit(3)
"""


def test_each_worker_gets_its_tf_config():
    stream = io.StringIO()
    result = launch_workers(
        [sys.executable, "-c", _SHOW], num_workers=3, devices_per_worker=2, stream=stream
    )
    assert result.returncode == 0 and result.restarts == 0
    fields = [out.split() for out in result.outputs]
    assert [f[0] for f in fields] == ["0", "1", "2"]
    assert {f[1] for f in fields} == {"3"} and {f[3] for f in fields} == {"2"}
    assert fields[0][2].startswith("127.0.0.1:")
    lines = stream.getvalue().splitlines()
    assert sorted(line.split("]")[0] for line in lines) == [
        "[worker 0", "[worker 1", "[worker 2"]


def test_failure_kills_the_others_and_names_the_worker(tmp_path):
    start = time.monotonic()
    result = launch_workers([sys.executable, "-c", _FLAKY, str(tmp_path)], num_workers=2)
    assert time.monotonic() - start < 30, "the sleeping worker was not terminated"
    assert result.returncode == 3
    assert result.failed_worker == 1
    assert "worker 1 failed with exit code 3" in result.message


def test_restart_runs_the_whole_cluster_again(tmp_path):
    result = launch_workers(
        [sys.executable, "-c", _FLAKY, str(tmp_path)], num_workers=2, max_restarts=1,
        backoff_s=0.1,
    )
    assert result.returncode == 0 and result.restarts == 1
    for out in result.outputs:
        assert out.splitlines() == ["start 0", "[tfbig.launch] restart 1", "start 1"]


def test_timeout_kills_every_worker():
    result = launch_workers(
        [sys.executable, "-c", "import time; time.sleep(60)"], num_workers=2, timeout=1
    )
    assert result.returncode == 124 and "timeout" in result.message


@pytest.mark.parametrize(
    "kwargs, culprit",
    [
        ({"num_workers": 0}, "num_workers=0"),
        ({"num_workers": 2, "devices_per_worker": 0}, "devices_per_worker=0"),
        ({"num_workers": 2, "max_restarts": -1}, "max_restarts=-1"),
        ({"num_workers": 2, "timeout": 0}, "timeout=0"),
        ({"num_workers": 2, "command": "python train.py"}, "command='python train.py'"),
        ({"num_workers": 2, "command": []}, "command=[]"),
    ],
)
def test_bad_arguments_name_the_culprit(kwargs, culprit):
    kwargs.setdefault("command", [sys.executable, "-c", "pass"])
    with pytest.raises(ValueError, match="Received: " + culprit.replace("[", r"\[")):
        launch_workers(**kwargs)


def test_command_line_prefixes_output_and_reports_failure(tmp_path):
    bad = subprocess.run(
        [sys.executable, "-m", "tfbig.distribute.launch", "--num_workers", "2", "--",
         sys.executable, "-c", _FLAKY, str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert sorted(bad.stdout.splitlines()) == ["[worker 0] start 0", "[worker 1] start 0"]
    assert bad.returncode == 3
    assert "worker 1 failed with exit code 3" in bad.stderr


def test_missing_program_is_a_clear_error():
    with pytest.raises(ValueError, match="Cannot start the worker command.*no_such_program"):
        launch_workers(["no_such_program_tfbig", "--x"], num_workers=2)


def test_command_line_usage_errors(capsys):
    assert main(["--num_workers", "0", "--", "x"]) == 2
    assert "num_workers=0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--num_workers", "2", "python", "train.py"])  # no `--`
