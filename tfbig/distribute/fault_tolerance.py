"""Fault tolerance: step-level backups a restarted job resumes from.

:func:`backup_and_restore` returns Keras' ``BackupAndRestore`` set up to back
up every ``save_freq`` steps (model, optimizer -- including gradient
accumulators -- and the epoch/step counters), so that a job restarted after a
failure (e.g. by ``tfbig.distribute.launch --max_restarts``) resumes inside
the epoch and ends at the planned step count. Only the chief keeps the backup;
it is deleted when training finishes.
"""

import tensorflow as tf

from tfbig._backend import keras

__all__ = ["backup_and_restore"]


def backup_and_restore(backup_dir, save_freq=100, delete_checkpoint=True):
    """A ``BackupAndRestore`` callback that backs up every ``save_freq`` steps.

    Put it first in the callback list: it restores the state in
    ``on_train_begin`` before other callbacks start. Keep ``backup_dir``
    private to one job, and the same across restarts. The data order of the
    resumed epoch restarts from the epoch's beginning (the pipeline is not
    checkpointed); the number of steps is exact.

    Args:
        backup_dir: directory for the backup (shared by the workers' chief;
            other workers write to temporary directories).
        save_freq: back up every this many steps (>= 1), or ``"epoch"``.
            Defaults to ``100``.
        delete_checkpoint: delete the backup when ``fit`` completes. Defaults
            to ``True``.

    Returns:
        A ``keras.callbacks.BackupAndRestore``.

    Raises:
        ValueError: for an empty directory or a bad ``save_freq``.

    Example:

    >>> import tempfile
    >>> callback = backup_and_restore(tempfile.mkdtemp(), save_freq=10)
    >>> callback.save_freq
    10
    """
    if not backup_dir:
        raise ValueError(
            f"`backup_dir` must be a directory path. Received: backup_dir={backup_dir!r}")
    if save_freq != "epoch" and (
        isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
    ):
        raise ValueError(
            "`save_freq` must be an integer >= 1 (steps) or 'epoch'. "
            f"Received: save_freq={save_freq!r}")
    tf.io.gfile.makedirs(str(backup_dir))
    return keras.callbacks.BackupAndRestore(
        str(backup_dir), save_freq=save_freq, delete_checkpoint=delete_checkpoint)
