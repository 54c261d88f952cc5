"""Atomic writes that refuse to replace an existing path unless asked."""

import contextlib
import os
import shutil
import uuid


def check_target(path, overwrite, arg_name="path"):
    """Returns ``path`` as an absolute ``str`` after the overwrite check."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"`{arg_name}` must be a file path (str or os.PathLike). "
            f"Received: {arg_name}={path!r}"
        )
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise ValueError(
            f"Output path {path!r} already exists; tfbig does not replace files "
            "unless asked. Pass overwrite=True to replace it, or choose another path. "
            f"Received: {arg_name}={path!r}, overwrite={overwrite!r}"
        )
    return path


def _temp_sibling(path):
    directory, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    return os.path.join(directory, f".{stem}.tmp-{uuid.uuid4().hex[:8]}{ext}")


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary sibling path; on success moves it onto ``path``.

    Works for files and directories. On error the temporary is removed and
    ``path`` is left as it was.
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temp = _temp_sibling(path)
    try:
        yield temp
        if os.path.isdir(temp) and os.path.lexists(path):
            backup = _temp_sibling(path)
            os.replace(path, backup)
            os.replace(temp, path)
            _remove(backup)
        else:
            if os.path.isdir(path):
                _remove(path)
            os.replace(temp, path)
    finally:
        _remove(temp)


def write_bytes(path, data):
    """Atomically writes ``data`` to ``path`` (fsync before rename)."""
    with atomic_path(path) as temp:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
