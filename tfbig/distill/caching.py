"""Teacher-output caching: run a large teacher once, not every epoch."""

import numpy as np
import tensorflow as tf

from tfbig.distill.distiller import INPUTS_KEY
from tfbig.distill.distiller import TEACHER_OUTPUTS_KEY
from tfbig.distill.distiller import Distiller

__all__ = ["cache_teacher_outputs"]


def _check_batch_size(batch_size):
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}"
        )
    return batch_size


def _as_batches(x, y, batch_size):
    if isinstance(x, tf.data.Dataset):
        if y is not None:
            raise ValueError(
                "Pass labels inside the dataset, not as `y`, when `x` is a "
                f"tf.data.Dataset. Received: y of type {type(y).__name__}"
            )
        if x.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError(
                "Teacher outputs can only be cached for a finite dataset; remove "
                "`.repeat()` (the cached dataset can be repeated). "
                "Received: x with infinite cardinality"
            )
        return x
    if y is None:
        raise ValueError(
            "`y` (the labels) is required when `x` is an array. Received: y=None"
        )
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size or 32)


def cache_teacher_outputs(distiller, x, y=None, batch_size=None, shuffle=True, seed=None):
    """Runs the teacher once over fixed data and returns a dataset for ``fit``.

    Every epoch of ordinary distillation re-runs the teacher on the same inputs.
    When the inputs do not change between epochs (no random augmentation), this
    computes the values the Distiller's losses read from the teacher (logits,
    features, attention maps) once, keeps them in memory with each example, and
    returns a ``tf.data.Dataset`` that ``distiller.fit`` uses without running the
    teacher. Each element is ``({"tfbig_inputs": x, "tfbig_teacher_outputs":
    (...)}, y[, sample_weight])``; ``Distiller.evaluate``/``predict`` accept it
    too. Memory: the teacher values of the whole dataset are held in host memory.

    Args:
        distiller: the :class:`Distiller` whose losses define the values to cache.
        x: input array (or nested arrays), or a finite ``tf.data.Dataset`` of
            ``(x, y)`` / ``(x, y, sample_weight)`` batches.
        y: labels when ``x`` is an array; ``None`` for a dataset.
            Defaults to ``None``.
        batch_size: batch size of the returned dataset (the global batch under a
            strategy), also used to run the teacher over arrays. Defaults to
            the size of the dataset's first batch, or 32 for arrays.
        shuffle: reshuffle the examples every epoch. Defaults to ``True``.
        seed: shuffle seed. Defaults to ``None``.

    Returns:
        A batched ``tf.data.Dataset``.

    Raises:
        TypeError: ``distiller`` is not a :class:`Distiller`.
        ValueError: missing labels, an infinite dataset, a bad ``batch_size``.

    Example:

    >>> import numpy as np
    >>> from tfbig.distill import Distiller, LogitsLoss
    >>> from tfbig.models import mlp
    >>> d = Distiller(mlp(hidden=(16,)), mlp(hidden=(4,)), [LogitsLoss()])
    >>> ds = cache_teacher_outputs(d, np.zeros((5, 8, 8, 1), "float32"), np.zeros(5), batch_size=4)
    >>> [int(x["tfbig_teacher_outputs"][0].shape[0]) for x, y in ds]
    [4, 1]
    """
    if not isinstance(distiller, Distiller):
        raise TypeError(
            "`distiller` must be a tfbig.distill.Distiller (its losses decide which "
            f"teacher values to cache). Received: distiller of type {type(distiller).__name__}"
        )
    batch_size = _check_batch_size(batch_size)
    batches = _as_batches(x, y, batch_size)
    teacher_fn = tf.function(distiller.teacher_outputs)
    columns, structure = None, None
    for batch in batches:
        batch = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
        row = (batch[0], tuple(teacher_fn(batch[0])), *batch[1:])
        flat = [np.asarray(t) for t in tf.nest.flatten(row)]
        if columns is None:
            columns, structure = [[] for _ in flat], row
            batch_size = batch_size or int(flat[0].shape[0])
        for column, array in zip(columns, flat):
            column.append(array)
    if columns is None:
        raise ValueError(
            "Cannot cache the teacher outputs of an empty dataset. "
            "Received: x with 0 batches"
        )
    merged = tf.nest.pack_sequence_as(
        structure, [np.concatenate(c, axis=0) for c in columns]
    )
    inputs, values, *rest = merged
    elements = ({INPUTS_KEY: inputs, TEACHER_OUTPUTS_KEY: values}, *rest)
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        count = int(tf.nest.flatten(inputs)[0].shape[0])
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
