"""The run's output directory: refuse to clobber, resume from state, save atomically."""

import json
import os
import shutil
import tempfile

from tfbig.report._atomic import atomic_path
from tfbig.report._atomic import write_text

CONFIG_FILE = "config.json"
STATE_FILE = "state.json"
# Fields that may differ between an interrupted run and its --resume.
_RESUME_FREE = frozenset({"resume", "overwrite", "verbose", "output_dir", "latency_repeats"})


def check(config):
    """Checks ``config.output_dir`` against --overwrite/--resume; changes nothing.

    Raises:
        ValueError: naming ``--output_dir``/``--overwrite``/``--resume``.
    """
    out = config.output_dir
    exists = os.path.isdir(out) and bool(os.listdir(out))
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--output_dir is a file, not a directory. Received: --output_dir={out!r}")
    ours = os.path.isfile(os.path.join(out, CONFIG_FILE))
    if config.resume:
        if not ours:
            raise ValueError(
                "--resume needs the output directory of an earlier tfbig run (with "
                f"{CONFIG_FILE}); there is none. Drop --resume to start afresh. "
                f"Received: --output_dir={out!r}"
            )
        _check_same_run(config, out)
        return True
    if exists and not config.overwrite:
        raise ValueError(
            "--output_dir is not empty; pass --overwrite to replace it, --resume to "
            "continue the run in it, or choose another --output_dir. "
            f"Received: --output_dir={out!r}"
        )
    if exists and config.overwrite and not ours:
        raise ValueError(
            "--overwrite only replaces a directory written by tfbig (it has "
            f"{CONFIG_FILE}); this one is not, so nothing was deleted. Choose another "
            f"--output_dir. Received: --output_dir={out!r}"
        )
    return exists


def prepare(config, chief=True):
    """Checks and (chief) creates ``config.output_dir``; returns the saved state.

    Raises:
        ValueError: as :func:`check`.
    """
    out = config.output_dir
    if not chief:  # the chief checks and writes; workers only read
        return read_state(out) if config.resume else {"done": {}}
    exists = check(config)
    if config.resume:
        return read_state(out)
    if chief:
        if exists:
            shutil.rmtree(out)
        os.makedirs(out, exist_ok=True)
        write_text(os.path.join(out, CONFIG_FILE), json.dumps(config.to_dict(), indent=2) + "\n")
        write_state(out, {"done": {}})
    return {"done": {}}


def _check_same_run(config, out):
    with open(os.path.join(out, CONFIG_FILE), encoding="utf-8") as f:
        saved = json.load(f)
    now = config.to_dict()
    changed = sorted(k for k in now if k not in _RESUME_FREE and saved.get(k) != now[k])
    if changed:
        first = changed[0]
        raise ValueError(
            f"--resume continues a run with the same settings, but --{first} (and "
            f"{len(changed) - 1} other flag(s): {changed[1:]}) differs from the saved "
            f"{CONFIG_FILE}. Received: --{first}={now[first]!r} (saved {saved.get(first)!r})"
        )


def read_state(out):
    path = os.path.join(out, STATE_FILE)
    if not os.path.isfile(path):
        return {"done": {}}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_state(out, state):
    write_text(os.path.join(out, STATE_FILE), json.dumps(state, indent=2) + "\n")


def save_model(model, path, chief=True):
    """Saves a Keras model atomically (chief), or to a throw-away place (others).

    Every worker must save under a multi-worker strategy (saving is collective);
    only the chief's copy is kept.
    """
    if not chief:
        with tempfile.TemporaryDirectory(prefix="tfbig_worker_") as tmp:
            model.save(os.path.join(tmp, os.path.basename(path)))
        return path
    with atomic_path(path) as tmp:
        os.remove(tmp)
        tmp_keras = tmp + os.path.splitext(path)[1]
        try:
            model.save(tmp_keras)
            os.replace(tmp_keras, tmp)
        finally:
            if os.path.exists(tmp_keras):
                os.remove(tmp_keras)
    return path
