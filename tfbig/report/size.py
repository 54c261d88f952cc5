"""Size on disk of model artifacts, raw and gzipped.

The gzipped size is what a download or an app bundle pays, and is where
pruning shows: zeros compress. Files are gzipped at level 9 with a zero
timestamp; a directory (SavedModel) is packed into a tar archive in sorted
order with zeroed metadata first, so equal content gives equal sizes.
"""

import dataclasses
import gzip
import io
import os
import tarfile
import tempfile

from tfbig._backend import check_model

__all__ = ["SizeInfo", "artifact_size", "model_size"]

_SAVE_SUFFIX = {"keras": ".keras", "h5": ".h5", "savedmodel": ""}


@dataclasses.dataclass
class SizeInfo:
    """Size of one artifact in bytes.

    Attributes:
        raw_bytes: size on disk (sum of file sizes for a directory).
        gzip_bytes: size after gzip level 9 (of a tar for a directory).
    """

    raw_bytes: int
    gzip_bytes: int

    @property
    def compression(self):
        """``raw_bytes / gzip_bytes``."""
        return self.raw_bytes / self.gzip_bytes if self.gzip_bytes else float("inf")


def _gzip_len(data):
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def _tar_bytes(directory):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for root, dirs, files in os.walk(directory):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                info = tar.gettarinfo(path, arcname=os.path.relpath(path, directory))
                info.mtime = info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(path, "rb") as f:
                    tar.addfile(info, f)
    return buffer.getvalue()


def artifact_size(path):
    """Raw and gzipped size of a model file (``.tflite``, ``.keras``, ``.h5``) or
    directory (SavedModel).

    Args:
        path: a file or directory path.

    Returns:
        A :class:`SizeInfo`.

    Raises:
        ValueError: if ``path`` does not exist.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "zeros.bin")
    >>> _ = open(path, "wb").write(bytes(10000))
    >>> info = artifact_size(path)
    >>> info.raw_bytes, info.gzip_bytes < 100
    (10000, True)
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raw = sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, files in os.walk(path)
            for name in files
        )
        return SizeInfo(raw_bytes=raw, gzip_bytes=_gzip_len(_tar_bytes(path)))
    if not os.path.isfile(path):
        raise ValueError(
            f"No model file or directory at `path`; pass the path of a saved artifact. "
            f"Received: path={path!r}"
        )
    with open(path, "rb") as f:
        data = f.read()
    return SizeInfo(raw_bytes=len(data), gzip_bytes=_gzip_len(data))


def model_size(model, save_format="keras"):
    """Saves ``model`` to a temporary place and returns its :class:`SizeInfo`.

    Strip pruning wrappers first (``tfbig.prune`` does it) to measure what you
    would ship.

    Args:
        model: a tf_keras model.
        save_format: ``"keras"``, ``"h5"`` or ``"savedmodel"``.
            Defaults to ``"keras"``.

    Returns:
        A :class:`SizeInfo`.

    Raises:
        ValueError: for an unknown ``save_format``.

    Example:

    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
    >>> model_size(m).raw_bytes > 0
    True
    """
    check_model(model)
    if save_format not in _SAVE_SUFFIX:
        raise ValueError(
            f"`save_format` must be one of {sorted(_SAVE_SUFFIX)}. "
            f"Received: save_format={save_format!r}"
        )
    with tempfile.TemporaryDirectory(prefix="tfbig_size_") as tmp:
        path = os.path.join(tmp, "model" + _SAVE_SUFFIX[save_format])
        if save_format == "savedmodel":
            model.save(path, save_format="tf")
        else:
            model.save(path)
        return artifact_size(path)
