"""Input pipelines that are correct under any strategy.

Three things go wrong when a single-device pipeline meets ``tf.distribute``:
the batch is per replica instead of global, the auto-shard policy does not fit
the source (FILE sharding of in-memory data, or fewer files than workers: "not
enough files for each shard"), and workers shuffle differently so the DATA
shards overlap. :func:`distribute_dataset` and :func:`distribute_files` fix the
three and return an ordinary ``tf.data.Dataset`` for ``model.fit``.
"""

import numpy as np
import tensorflow as tf
from absl import logging

from tfbig.distribute.scaling import global_batch_size

__all__ = ["distribute_dataset", "distribute_files", "SHARD_POLICIES"]

SHARD_POLICIES = ("auto", "data", "file", "off")
_POLICY = {
    "auto": tf.data.experimental.AutoShardPolicy.AUTO,
    "data": tf.data.experimental.AutoShardPolicy.DATA,
    "file": tf.data.experimental.AutoShardPolicy.FILE,
    "off": tf.data.experimental.AutoShardPolicy.OFF,
}
_MULTI_WORKER_SHUFFLE_SEED = 0


def _num_workers(strategy):
    extended = strategy.extended
    return int(getattr(extended, "_num_workers", 1) or 1)


def _from_arrays(data):
    leaves = tf.nest.flatten(data if isinstance(data, (tuple, list, dict)) else (data,))
    if not leaves or not all(isinstance(a, (np.ndarray, list)) or tf.is_tensor(a) for a in leaves):
        raise TypeError(
            "`data` must be a tf.data.Dataset of single examples, or numpy arrays "
            "(an array, a tuple (x, y[, sample_weight]) or a dict of arrays). "
            f"Received: data of type {type(data).__name__}"
        )
    lengths = {len(a) for a in leaves}
    if len(lengths) != 1:
        raise ValueError(
            "All arrays in `data` must have the same number of examples. "
            f"Received: lengths {sorted(len(a) for a in leaves)}"
        )
    return tf.data.Dataset.from_tensor_slices(tuple(data) if isinstance(data, list) else data)


def _check(per_replica_batch_size, shard_policy):
    if isinstance(per_replica_batch_size, bool) or not isinstance(per_replica_batch_size, int) or (
        per_replica_batch_size < 1
    ):
        raise ValueError(
            "`per_replica_batch_size` must be an integer >= 1. "
            f"Received: per_replica_batch_size={per_replica_batch_size!r}"
        )
    if shard_policy not in SHARD_POLICIES:
        raise ValueError(
            f"`shard_policy` must be one of {SHARD_POLICIES}. "
            f"Received: shard_policy={shard_policy!r}"
        )


def _finish(dataset, per_replica_batch_size, strategy, policy, shuffle, seed, repeat,
            drop_remainder, shuffle_buffer):
    if shuffle:
        if seed is None and _num_workers(strategy) > 1:
            # DATA shards are only disjoint if every worker shuffles alike.
            seed = _MULTI_WORKER_SHUFFLE_SEED
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(
        global_batch_size(per_replica_batch_size, strategy), drop_remainder=drop_remainder)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = _POLICY[policy]
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def distribute_dataset(data, per_replica_batch_size, strategy=None, shuffle=False, seed=None,
                       repeat=False, drop_remainder=False, shard_policy="auto",
                       shuffle_buffer=10_000):
    """Batches in-memory data for ``strategy``: global batch, DATA sharding.

    The result is batched with the global batch size (per-replica batch x
    replicas in sync) and carries the shard policy; pass it to ``model.fit``
    under the same strategy. A last partial batch is kept (Keras splits it
    among replicas, so no "not enough elements" failure at the end of an
    epoch); ``drop_remainder=True`` drops it instead. Under several workers a
    shuffle uses the same seed everywhere, so the DATA shards stay disjoint.

    Args:
        data: numpy arrays (an array, a tuple ``(x, y[, sample_weight])``, a
            dict) or an unbatched ``tf.data.Dataset`` of single examples.
        per_replica_batch_size: examples per replica per step (>= 1).
        strategy: the ``tf.distribute.Strategy``; ``None`` uses the current
            one. Defaults to ``None``.
        shuffle: shuffle every epoch. Defaults to ``False``.
        seed: shuffle seed; ``None`` is random on one worker and fixed (0)
            across several workers. Defaults to ``None``.
        repeat: repeat forever (then pass ``steps_per_epoch`` to ``fit``).
            Defaults to ``False``.
        drop_remainder: drop the last partial global batch. Defaults to
            ``False``.
        shard_policy: ``"auto"`` (DATA for arrays, TF's AUTO for datasets),
            ``"data"``, ``"file"`` or ``"off"``. Defaults to ``"auto"``.
        shuffle_buffer: shuffle buffer size. Defaults to ``10_000``.

    Returns:
        A batched ``tf.data.Dataset``.

    Raises:
        ValueError: for a bad batch size or shard policy, arrays of different
            lengths, or ``"file"`` sharding of in-memory arrays.
        TypeError: for data that is neither arrays nor a dataset.

    Example:

    >>> import numpy as np
    >>> ds = distribute_dataset((np.zeros((10, 3)), np.arange(10)), per_replica_batch_size=4)
    >>> [int(y.shape[0]) for _, y in ds]
    [4, 4, 2]
    """
    _check(per_replica_batch_size, shard_policy)
    strategy = strategy or tf.distribute.get_strategy()
    if isinstance(data, tf.data.Dataset):
        dataset, policy = data, shard_policy
    else:
        if shard_policy == "file":
            raise ValueError(
                "In-memory arrays have no files to shard; use shard_policy='data' (or "
                "'auto'), or distribute_files for file-based data. "
                "Received: shard_policy='file'"
            )
        dataset = _from_arrays(data)
        policy = "data" if shard_policy == "auto" else shard_policy
    return _finish(dataset, per_replica_batch_size, strategy, policy, shuffle, seed, repeat,
                   drop_remainder, shuffle_buffer)


def distribute_files(files, reader, per_replica_batch_size, strategy=None, shuffle=False,
                     seed=None, repeat=False, drop_remainder=False, shuffle_buffer=10_000,
                     cycle_length=4):
    """A file-based pipeline sharded by FILE when there are enough files.

    Each worker reads a disjoint subset of ``files`` (FILE sharding) when
    there are at least as many files as workers; with fewer files, where TF's
    FILE policy fails, it falls back to DATA sharding (logged).

    Args:
        files: a list of paths, or a glob pattern.
        reader: a function ``path -> tf.data.Dataset`` of single examples
            (e.g. ``tf.data.TFRecordDataset`` followed by a parse ``map``).
        per_replica_batch_size: examples per replica per step (>= 1).
        strategy: the ``tf.distribute.Strategy``; ``None`` uses the current
            one. Defaults to ``None``.
        shuffle: shuffle files and examples every epoch. Defaults to ``False``.
        seed: shuffle seed (fixed across several workers when ``None``).
            Defaults to ``None``.
        repeat: repeat forever. Defaults to ``False``.
        drop_remainder: drop the last partial global batch. Defaults to ``False``.
        shuffle_buffer: example shuffle buffer size. Defaults to ``10_000``.
        cycle_length: files read in parallel. Defaults to ``4``.

    Returns:
        A batched ``tf.data.Dataset``.

    Raises:
        ValueError: when no file matches, or for a bad batch size.
        TypeError: when ``reader`` is not callable.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("1\\n2\\n3\\n")
    >>> ds = distribute_files([path], tf.data.TextLineDataset, per_replica_batch_size=2)
    >>> [list(b.numpy()) for b in ds]
    [[b'1', b'2'], [b'3']]
    """
    _check(per_replica_batch_size, "auto")
    if not callable(reader):
        raise TypeError(
            "`reader` must be a function path -> tf.data.Dataset. "
            f"Received: reader of type {type(reader).__name__}"
        )
    strategy = strategy or tf.distribute.get_strategy()
    paths = sorted(tf.io.gfile.glob(files)) if isinstance(files, str) else list(files)
    if not paths:
        raise ValueError(f"No input file matches `files`. Received: files={files!r}")
    workers = _num_workers(strategy)
    policy = "file"
    if len(paths) < workers:
        logging.warning(
            "%d file(s) for %d workers: FILE sharding would leave workers without data; "
            "sharding by DATA instead (each worker reads every file).", len(paths), workers)
        policy = "data"
    dataset = tf.data.Dataset.from_tensor_slices(paths)
    if shuffle:
        dataset = dataset.shuffle(len(paths), seed=_MULTI_WORKER_SHUFFLE_SEED if (
            seed is None and workers > 1) else seed)
    dataset = dataset.interleave(
        reader, cycle_length=min(cycle_length, len(paths)), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
    return _finish(dataset, per_replica_batch_size, strategy, policy, shuffle, seed, repeat,
                   drop_remainder, shuffle_buffer)
