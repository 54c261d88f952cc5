"""One stage of a compression run, measured: accuracy, size, sparsity, FLOPs, latency."""

import dataclasses
import os

from tfbig._backend import check_model
from tfbig._backend import is_graph_network
from tfbig.report.accuracy import evaluate_accuracy
from tfbig.report.latency import measure_latency
from tfbig.report.params import model_stats
from tfbig.report.size import artifact_size
from tfbig.report.size import model_size

__all__ = ["StageResult", "measure_stage"]


@dataclasses.dataclass
class StageResult:
    """The measured numbers of one stage (``None`` where not measured).

    Attributes:
        name: the stage name (``"teacher"``, ``"pruned"``, ``"int8"`` ...).
        artifact: what size, latency and accuracy were measured on:
            ``"keras"`` (the in-memory model, sized as a ``.keras`` file),
            ``"tflite"``, or the file's extension.
        accuracy: top-1 accuracy on held-out data, in ``[0, 1]``.
        params: parameters (wrappers looked through).
        nonzero_params: parameters that are not exactly zero.
        sparsity: ``1 - nonzero_params / params``.
        flops: FLOPs of one example (1 multiply-add = 2 FLOPs).
        sparse_flops: FLOPs counting only non-zero weights.
        size_bytes: artifact size on disk.
        gzip_bytes: artifact size gzipped (level 9).
        latency_ms: median latency of one example (batch 1), milliseconds.
        batch_latency_ms: median latency of one batch of ``batch_size``.
        batch_size: the batch size of ``batch_latency_ms``.
        path: the artifact path, if any.
        metrics: any other numbers (losses, distillation terms ...).
    """

    name: str
    artifact: str = "keras"
    accuracy: float = None
    params: int = None
    nonzero_params: int = None
    sparsity: float = None
    flops: int = None
    sparse_flops: int = None
    size_bytes: int = None
    gzip_bytes: int = None
    latency_ms: float = None
    batch_latency_ms: float = None
    batch_size: int = None
    path: str = None
    metrics: dict = dataclasses.field(default_factory=dict)

    def to_dict(self):
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        """The inverse of :meth:`to_dict` (unknown keys are refused)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"Unknown StageResult fields {unknown}; expected a subset of "
                f"{sorted(names)}. Received: data keys={sorted(data)}"
            )
        return cls(**data)


def _artifact_kind(path):
    if path is None:
        return "keras"
    if os.path.isdir(path):
        return "savedmodel"
    ext = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    return ext or "file"


def measure_stage(
    name,
    model=None,
    path=None,
    x=None,
    y=None,
    batch_size=32,
    latency=True,
    latency_repeats=20,
    metrics=None,
):
    """Measures one stage: statistics from ``model``, size/latency/accuracy from
    the artifact (``path`` if given, else ``model`` itself).

    Pass both for a shipped file, e.g. the QAT model and its int8 ``.tflite``:
    parameters, sparsity and FLOPs come from the model, the rest from the file.

    Args:
        name: stage name.
        model: a tf_keras model, or ``None`` for a file-only stage.
            Defaults to ``None``.
        path: an artifact (``.tflite``, ``.keras``, ``.h5`` file or SavedModel
            directory). Defaults to ``None`` (size the model as ``.keras``).
        x: held-out inputs for accuracy. Defaults to ``None`` (not measured).
        y: held-out class ids for accuracy. Defaults to ``None``.
        batch_size: the batch size ``N`` of the batch-N latency.
            Defaults to 32.
        latency: measure latency. Defaults to ``True``.
        latency_repeats: timed calls per latency. Defaults to 20.
        metrics: extra numbers to keep with the stage. Defaults to ``None``.

    Returns:
        A :class:`StageResult`.

    Raises:
        ValueError: with neither ``model`` nor ``path``, or only one of
            ``x``/``y``.

    Example:

    >>> import numpy as np
    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    >>> s = measure_stage("tiny", m, x=np.zeros((4, 3)), y=np.zeros(4), latency=False)
    >>> s.params, s.flops, s.artifact
    (8, 14, 'keras')
    """
    if model is None and path is None:
        raise ValueError(
            f"Stage {name!r} needs a `model`, a `path`, or both. "
            "Received: model=None, path=None"
        )
    if (x is None) != (y is None):
        raise ValueError(
            f"Pass both `x` and `y` to measure accuracy (or neither). "
            f"Received: x is None={x is None}, y is None={y is None}"
        )
    result = StageResult(name=name, artifact=_artifact_kind(path), metrics=dict(metrics or {}))
    if model is not None:
        check_model(model)
        stats = model_stats(model)
        for field in ("params", "nonzero_params", "sparsity", "flops", "sparse_flops"):
            setattr(result, field, getattr(stats, field))
    size = artifact_size(path) if path is not None else model_size(model)
    result.size_bytes, result.gzip_bytes = size.raw_bytes, size.gzip_bytes
    result.path = os.fspath(path) if path is not None else None
    runnable = path if result.artifact == "tflite" else model
    if x is not None and runnable is not None:
        result.accuracy = evaluate_accuracy(runnable, x, y)
    can_time = runnable is not None and (
        result.artifact == "tflite" or is_graph_network(runnable)
    )
    if latency and can_time:
        one = measure_latency(runnable, batch_size=1, repeats=latency_repeats)
        many = measure_latency(runnable, batch_size=batch_size, repeats=latency_repeats)
        result.latency_ms, result.batch_latency_ms = one.median_ms, many.median_ms
        result.batch_size = batch_size
    return result
