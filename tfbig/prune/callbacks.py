"""The one callback pruning uses; tfbig's pruned models add it to ``fit`` themselves."""

import os

import numpy as np
import tensorflow as tf
from absl import logging
from tensorflow.core.framework import summary_pb2

from tfbig._backend import keras
from tfbig.prune import _walk

__all__ = ["PruningCallback"]


class PruningCallback(keras.callbacks.Callback):
    """Epoch schedules, global ranking, final masking and TensorBoard for pruning.

    Models returned by :func:`tfbig.prune.magnitude` add this callback to
    every ``fit`` (one built from their ``log_dir``) unless the list already
    holds one, so users never add it themselves. Add it by hand only to a model
    you assembled from :class:`tfbig.prune.PruneLowMagnitude` wrappers. It may
    stand anywhere in the callback list; it reads no logs and writes none.

    What it does:

    - ``on_train_begin``: gives epoch-based schedules the number of steps per
      epoch of this ``fit``; fails right there, naming the fix, if unknown.
    - ``ranking="global"`` wrappers: before each step on the schedule, ranks the
      weights of all layers together and sets every mask from one threshold.
    - ``on_epoch_end`` / ``on_train_end``: applies the masks to the weights, so
      a checkpoint or a stripped model holds exact zeros; writes per-layer and
      overall sparsity to TensorBoard under ``log_dir/pruning`` (chief only).

    Args:
        log_dir: TensorBoard directory, or ``None`` for no summaries.
            Defaults to ``None``.

    Example:

    >>> cb = PruningCallback()
    >>> cb.log_dir is None
    True
    """

    def __init__(self, log_dir=None):
        super().__init__()
        if log_dir is not None and (not isinstance(log_dir, (str, os.PathLike)) or not str(log_dir)):
            raise ValueError(
                f"`log_dir` must be a non-empty path or None. Received: log_dir={log_dir!r}"
            )
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self._wrappers = []
        self._global = []
        self._global_update = None
        self._writer = None

    def _implements_train_batch_hooks(self):
        # Keras runs per-batch hooks (and their overhead) only if a callback asks;
        # this one needs them only for global ranking.
        if self.model is None:
            return True
        return any(getattr(w, "ranking", "layer") == "global" for _, w in _walk.wrappers(self.model))

    def on_train_begin(self, logs=None):
        self._wrappers = _walk.wrappers(self.model)
        self._global = [w for _, w in self._wrappers if getattr(w, "ranking", "layer") == "global"]
        self._global_update = None
        steps = (self.params or {}).get("steps")
        for path, wrapper in self._wrappers:
            schedule = wrapper.pruning_schedule
            if getattr(schedule, "needs_steps_per_epoch", False):
                if not steps:
                    raise ValueError(
                        f"Layer {path!r} has a pruning schedule in epochs, but this `fit` "
                        "does not know its steps per epoch (the dataset size is unknown). "
                        "Pass `steps_per_epoch=` to `fit` or to `tfbig.prune.magnitude`. "
                        f"Received: steps_per_epoch={steps}"
                    )
                schedule.steps_per_epoch = int(steps)
                logging.info("Pruning schedule of %s: %d steps per epoch.", path, steps)

    def on_train_batch_begin(self, batch, logs=None):
        if not self._global:
            return
        step = max(int(keras.backend.get_value(self._global[0].pruning_step)), 0) + 1
        should_prune, sparsity = self._global[0].pruning_schedule(tf.constant(step, tf.int64))
        if bool(should_prune):
            with self.model.distribute_strategy.scope():
                self._update_global_masks(tf.constant(float(sparsity), tf.float32))

    def _update_global_masks(self, sparsity):
        if self._global_update is None:
            triples = [t for w in self._global for t in w.pruning_vars]

            @tf.function
            def update(sparsity):
                magnitudes = tf.concat(
                    [tf.reshape(tf.abs(tf.cast(w, tf.float32)), [-1]) for w, _, _ in triples], 0
                )
                size = tf.cast(tf.size(magnitudes), tf.float32)
                keep = tf.cast(tf.maximum(tf.round(size * (1.0 - sparsity)), 1.0), tf.int32)
                threshold = tf.sort(magnitudes, direction="DESCENDING")[keep - 1]
                for weight, mask, thresh in triples:
                    keep_mask = tf.abs(tf.cast(weight, tf.float32)) >= threshold
                    mask.assign(tf.cast(keep_mask, mask.dtype))
                    thresh.assign(tf.cast(threshold, thresh.dtype))

            self._global_update = update
        self._global_update(sparsity)

    def _apply_masks(self):
        with self.model.distribute_strategy.scope():
            for _, wrapper in self._wrappers:
                for weight, mask, _ in wrapper.pruning_vars:
                    weight.assign(weight * tf.cast(mask, weight.dtype))

    def on_epoch_end(self, epoch, logs=None):
        self._apply_masks()
        if self.log_dir is not None and self.model.distribute_strategy.extended.should_checkpoint:
            self._write_summaries()

    def on_train_end(self, logs=None):
        self._apply_masks()
        if self._writer is not None:
            self._writer.flush()

    def _write_summaries(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "pruning"))
        step = int(keras.backend.get_value(self.model.optimizer.iterations))
        zeros = total = 0
        with self._writer.as_default():
            for path, wrapper in self._wrappers:
                layer_zeros = layer_total = 0
                for weight, mask, _ in wrapper.pruning_vars:
                    value = keras.backend.get_value(weight) * keras.backend.get_value(mask)
                    layer_zeros += int(value.size - np.count_nonzero(value))
                    layer_total += int(value.size)
                zeros, total = zeros + layer_zeros, total + layer_total
                _scalar(f"sparsity/{path}", layer_zeros / max(layer_total, 1), step)
            _scalar("sparsity/overall", zeros / max(total, 1), step)


def _scalar(tag, value, step):
    """``tf.summary.scalar`` without needing the tensorboard package installed."""
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    )
    tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=metadata)
