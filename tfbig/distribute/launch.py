"""Local multi-worker launcher: N real worker processes on loopback ports.

``python -m tfbig.distribute.launch --num_workers 2 -- python train.py --epochs 3``
starts two copies of ``train.py``, each with a ``TF_CONFIG`` that describes a
loopback cluster, so that ``tfbig.distribute.strategy()`` returns a
``MultiWorkerMirroredStrategy`` inside each. Every output line is prefixed with
the worker's rank. When one worker fails the others are terminated; with
``--max_restarts R`` the whole cluster is started again (new ports, exponential
backoff) so that training resumes from its ``BackupAndRestore`` backup.

The same launcher is a Python function, :func:`launch_workers`.
"""

import argparse
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from absl import logging

from tfbig.distribute._cluster import DEVICES_PER_WORKER_ENV
from tfbig.distribute._cluster import RESTART_COUNT_ENV

__all__ = ["launch_workers", "LaunchResult", "main"]

_POLL_S = 0.05
_TERMINATE_GRACE_S = 5.0
_TIMEOUT_RETURNCODE = 124


@dataclasses.dataclass
class LaunchResult:
    """What :func:`launch_workers` returns.

    Attributes:
        returncode: 0 when every worker of the last attempt succeeded; else
            the failed worker's exit code (128 + signal number when it was
            killed by a signal), or 124 after a timeout.
        outputs: each worker's combined stdout + stderr, by rank, over all
            attempts (a line ``[tfbig.launch] restart r`` separates attempts).
        restarts: how many times the whole cluster was restarted.
        failed_worker: rank of the worker that failed last, or ``None``.
        message: a one-line summary naming the failed worker, or ``""``.
    """

    returncode: int
    outputs: list
    restarts: int = 0
    failed_worker: object = None
    message: str = ""


def _free_ports(host, count):
    """``count`` distinct ports that are free on ``host`` (held open together)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _tf_config(addresses, rank):
    return json.dumps(
        {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": rank}}
    )


def _validate(command, num_workers, devices_per_worker, max_restarts, timeout, host):
    if isinstance(command, str) or not command or not all(
        isinstance(part, str) for part in command
    ):
        raise ValueError(
            "`command` must be a non-empty list of strings, e.g. "
            "[sys.executable, 'train.py', '--epochs', '2']. "
            f"Received: command={command!r}"
        )
    for name, value, low in (
        ("num_workers", num_workers, 1),
        ("devices_per_worker", devices_per_worker, 1),
        ("max_restarts", max_restarts, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(
                f"`{name}` must be an integer >= {low}. Received: {name}={value!r}"
            )
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(
            f"`timeout` must be a positive number of seconds or None. Received: timeout={timeout!r}"
        )
    if not isinstance(host, str) or not host:
        raise ValueError(f"`host` must be a host name or IP address. Received: host={host!r}")


class _Attempt:
    """One start of the whole cluster: processes, output pumps, kill logic."""

    def __init__(self, command, num_workers, devices_per_worker, host, env, restart, stream):
        ports = _free_ports(host, num_workers)
        addresses = [f"{host}:{port}" for port in ports]
        self.lines = [[] for _ in range(num_workers)]
        self._stream = stream
        self._lock = threading.Lock()
        self.procs = []
        self.exit_times = {}
        self._pumps = []
        for rank in range(num_workers):
            worker_env = dict(os.environ)
            worker_env.update(env or {})
            worker_env["TF_CONFIG"] = _tf_config(addresses, rank)
            worker_env[DEVICES_PER_WORKER_ENV] = str(devices_per_worker)
            worker_env[RESTART_COUNT_ENV] = str(restart)
            worker_env["PYTHONUNBUFFERED"] = "1"
            try:
                proc = subprocess.Popen(
                    command,
                    env=worker_env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as err:
                self.terminate()
                raise ValueError(
                    f"Cannot start the worker command ({err.strerror}); check the program "
                    f"name and path. Received: command={command!r}"
                ) from err
            self.procs.append(proc)
            pump = threading.Thread(target=self._pump, args=(rank, proc), daemon=True)
            pump.start()
            self._pumps.append(pump)

    def _pump(self, rank, proc):
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            self.lines[rank].append(line)
            if self._stream is not None:
                with self._lock:
                    self._stream.write(f"[worker {rank}] {line}")
                    self._stream.flush()
        proc.stdout.close()
        proc.wait()
        self.exit_times[rank] = time.monotonic()

    def wait(self, deadline):
        """Returns ``(failed_rank, returncode)``; ``(None, 0)`` on success.

        When several workers have failed by the time it looks, the one that
        exited first is named (the others usually failed because of it).
        """
        while True:
            codes = [p.poll() for p in self.procs]
            failed = [rank for rank, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                rank = min(failed, key=lambda r: self.exit_times.get(r, float("inf")))
                code = codes[rank]
                self.terminate()
                return rank, (128 - code if code < 0 else code)
            if all(code == 0 for code in codes):
                self._join_pumps()
                return None, 0
            if deadline is not None and time.monotonic() > deadline:
                self.terminate()
                return -1, _TIMEOUT_RETURNCODE
            time.sleep(_POLL_S)

    def terminate(self):
        """SIGTERM every live worker's process group, then SIGKILL after a grace."""
        for proc in self.procs:
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        end = time.monotonic() + _TERMINATE_GRACE_S
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        self._join_pumps()

    def _join_pumps(self):
        for pump in self._pumps:
            pump.join(timeout=5.0)


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def launch_workers(
    command,
    num_workers,
    devices_per_worker=1,
    max_restarts=0,
    host="127.0.0.1",
    env=None,
    timeout=None,
    backoff_s=1.0,
    stream=None,
):
    """Runs ``command`` as ``num_workers`` workers of a loopback cluster.

    Each worker gets ``TF_CONFIG`` (cluster of ``num_workers`` workers on free
    ports of ``host``; worker 0 is the chief), the number of devices it should
    use (read by :func:`tfbig.distribute.strategy`) and the restart count
    (``TFBIG_RESTART_COUNT``, 0 on the first start). When a worker exits
    non-zero the others are terminated; if restarts are left, the whole cluster
    starts again after ``backoff_s * 2**r`` seconds so training can resume from
    its backup.

    Args:
        command: the worker command line, a list of strings (e.g.
            ``[sys.executable, "train.py"]``).
        num_workers: how many worker processes (>= 1).
        devices_per_worker: logical devices (CPU) or GPUs each worker trains
            on. Defaults to ``1``.
        max_restarts: how many times the whole cluster may be restarted after
            a failure. Defaults to ``0``.
        host: address the workers bind to. Defaults to ``"127.0.0.1"``.
        env: extra environment variables for the workers. Defaults to ``None``.
        timeout: seconds for each attempt before every worker is killed
            (return code 124); ``None`` waits forever. Defaults to ``None``.
        backoff_s: base delay before a restart, doubled each time. Defaults
            to ``1.0``.
        stream: a text stream that receives every output line live, prefixed
            ``[worker r]``; ``None`` keeps the output only in the result.
            Defaults to ``None``.

    Returns:
        A :class:`LaunchResult` with ``returncode``, ``outputs`` (by rank),
        ``restarts``, ``failed_worker`` and ``message``.

    Raises:
        ValueError: for an empty command or one that cannot be started,
            ``num_workers < 1``, ``devices_per_worker < 1``, ``max_restarts < 0``
            or a bad timeout.

    Example:

    >>> import sys
    >>> result = launch_workers(
    ...     [sys.executable, "-c", "import os; print(os.environ['TF_CONFIG'][:11])"],
    ...     num_workers=2)
    >>> result.returncode, result.outputs[1].strip()
    (0, '{"cluster":')
    """
    _validate(command, num_workers, devices_per_worker, max_restarts, timeout, host)
    outputs = [[] for _ in range(num_workers)]
    restart = 0
    while True:
        attempt = _Attempt(
            list(command), num_workers, devices_per_worker, host, env, restart, stream
        )
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            failed, code = attempt.wait(deadline)
        except BaseException:
            attempt.terminate()
            raise
        for rank in range(num_workers):
            outputs[rank].extend(attempt.lines[rank])
        if failed is None:
            return LaunchResult(0, ["".join(o) for o in outputs], restart)
        if failed < 0:
            message = f"the workers did not finish within timeout={timeout} s; all were killed"
            failed = None
        else:
            message = f"worker {failed} failed with exit code {code}"
        if restart >= max_restarts:
            message += f" (after {restart} restart(s) of max_restarts={max_restarts})"
            logging.error("tfbig launcher: %s", message)
            return LaunchResult(code, ["".join(o) for o in outputs], restart, failed, message)
        restart += 1
        delay = backoff_s * 2 ** (restart - 1)
        logging.warning(
            "tfbig launcher: %s; restarting the cluster (restart %d of %d) in %.1f s",
            message, restart, max_restarts, delay,
        )
        for rank in range(num_workers):
            outputs[rank].append(f"[tfbig.launch] restart {restart}\n")
        time.sleep(delay)


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m tfbig.distribute.launch",
        description="Run a training command as N workers of a local multi-worker cluster.",
        usage="%(prog)s --num_workers N [options] -- command [args ...]",
    )
    parser.add_argument("--num_workers", type=int, required=True)
    parser.add_argument("--devices_per_worker", type=int, default=1)
    parser.add_argument("--max_restarts", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--backoff_s", type=float, default=1.0)
    if "--" not in argv:
        parser.error("put the worker command after `--`, e.g. -- python train.py")
    split = argv.index("--")
    args = parser.parse_args(argv[:split])
    args.command = argv[split + 1:]
    if not args.command:
        parser.error("the worker command after `--` is empty")
    return args


def main(argv=None):
    """Command-line entry point; returns the process exit code."""
    args = _parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        result = launch_workers(
            args.command,
            num_workers=args.num_workers,
            devices_per_worker=args.devices_per_worker,
            max_restarts=args.max_restarts,
            host=args.host,
            timeout=args.timeout,
            backoff_s=args.backoff_s,
            stream=sys.stdout,
        )
    except ValueError as err:
        print(f"tfbig.distribute.launch: error: {err}", file=sys.stderr)
        return 2
    if result.returncode != 0:
        print(f"tfbig.distribute.launch: {result.message}", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
