"""Chief-only side effects under multi-worker training (TF's saving rule).

Every worker must take part in saving (variables may need an all-reduce), but
only the chief's files are kept: the others write to a temporary directory
beside the target, removed afterwards. Keras' ``ModelCheckpoint``,
``TensorBoard`` and ``BackupAndRestore`` already follow this rule; use
:func:`chief_path` for everything else you write (exports, reports).
"""

import contextlib
import os

import tensorflow as tf

from tfbig.distribute import _cluster

__all__ = ["is_chief", "chief_path"]


def _task(strategy):
    """``(task_type, task_id, cluster)`` from the strategy, else the cluster description."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.cluster_spec().as_dict():
        return resolver.task_type, resolver.task_id, resolver.cluster_spec().as_dict()
    # Outside `strategy.scope()` the current strategy is the default one; the
    # process's place in the cluster still comes from TF_CONFIG or SLURM.
    config = _cluster.parse_tf_config(os.environ.get("TF_CONFIG"))
    if config is not None:
        return config["task"]["type"], config["task"].get("index", 0), config["cluster"]
    slurm = _cluster.parse_slurm(os.environ)
    if slurm is not None:
        return "worker", slurm[0], {"worker": list(range(sum(slurm[1].values())))}
    return None, None, {}


def is_chief(strategy=None):
    """Whether this process is the chief (writes the real files).

    The chief is the ``"chief"`` task, or worker 0 when there is none; without
    a cluster every process is the chief. Outside ``strategy.scope()`` the
    cluster description (``TF_CONFIG`` or SLURM) decides.

    Args:
        strategy: the ``tf.distribute.Strategy``; ``None`` uses the current
            one. Defaults to ``None``.

    Returns:
        A bool.

    Example:

    >>> is_chief()
    True
    """
    strategy = strategy or tf.distribute.get_strategy()
    task_type, task_id, cluster = _task(strategy)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


@contextlib.contextmanager
def chief_path(path, strategy=None):
    """Yields where this worker should write ``path``; cleans up on non-chiefs.

    On the chief it yields ``path``. On other workers it yields
    ``<dir>/workertemp_<task id>/<name>`` (TF's naming) and removes that
    temporary directory when the block ends, so only the chief's output stays.
    Run the block on every worker: saving may need all of them.

    Args:
        path: the file or directory the chief writes.
        strategy: the ``tf.distribute.Strategy``; ``None`` uses the current
            one. Defaults to ``None``.

    Yields:
        The path to write to.

    Raises:
        ValueError: for an empty path.

    Example:

    >>> import tempfile
    >>> target = tempfile.mkdtemp() + "/export"
    >>> with chief_path(target) as path:
    ...     path == target
    True
    """
    if not path:
        raise ValueError(f"`path` must be a non-empty path. Received: path={path!r}")
    path = os.fspath(path)
    strategy = strategy or tf.distribute.get_strategy()
    if is_chief(strategy):
        yield path
        return
    _, task_id, _ = _task(strategy)
    parent, name = os.path.split(path.rstrip("/"))
    temp_dir = os.path.join(parent, f"workertemp_{task_id}")
    tf.io.gfile.makedirs(temp_dir)
    try:
        yield os.path.join(temp_dir, name)
    finally:
        if tf.io.gfile.exists(temp_dir):
            tf.io.gfile.rmtree(temp_dir)
