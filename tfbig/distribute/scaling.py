"""Batch and learning-rate scaling for data-parallel training.

With N replicas the global batch is N times the per-replica batch; the
learning rate is scaled with it (the linear rule of Goyal et al., 2017, or
the square-root rule), and a gradual warmup avoids the early instability of a
large learning rate. :class:`WarmupSchedule` is an in-graph Keras
``LearningRateSchedule``: pass it to any optimizer, use ordinary ``fit``.
"""

import math

import tensorflow as tf

from tfbig._backend import keras
from tfbig._backend import register_serializable

__all__ = ["global_batch_size", "scale_learning_rate", "WarmupSchedule", "SCALING_RULES"]

SCALING_RULES = ("linear", "sqrt")


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}")


def global_batch_size(per_replica_batch_size, strategy=None):
    """The global batch: per-replica batch times the replicas in sync.

    Args:
        per_replica_batch_size: examples each replica sees per step (>= 1).
        strategy: the ``tf.distribute.Strategy``; ``None`` uses the current
            one (``tf.distribute.get_strategy()``). Defaults to ``None``.

    Returns:
        An int.

    Raises:
        ValueError: for a batch size that is not a positive integer.

    Example:

    >>> global_batch_size(32)
    32
    """
    _check_positive_int("per_replica_batch_size", per_replica_batch_size)
    strategy = strategy or tf.distribute.get_strategy()
    return per_replica_batch_size * strategy.num_replicas_in_sync


def scale_learning_rate(base_learning_rate, global_batch_size, base_batch_size, rule="linear"):
    """Scales a learning rate tuned for ``base_batch_size`` to ``global_batch_size``.

    ``"linear"``: ``lr * global / base`` (Goyal et al., 2017, for SGD);
    ``"sqrt"``: ``lr * sqrt(global / base)`` (often better for Adam).

    Args:
        base_learning_rate: the learning rate tuned for ``base_batch_size``.
        global_batch_size: the batch size you train with (all replicas).
        base_batch_size: the batch size the base learning rate was tuned for.
        rule: ``"linear"`` or ``"sqrt"``. Defaults to ``"linear"``.

    Returns:
        The scaled learning rate, a float.

    Raises:
        ValueError: for an unknown rule, a non-positive learning rate or
            batch size.

    Example:

    >>> scale_learning_rate(0.1, global_batch_size=1024, base_batch_size=256)
    0.4
    >>> scale_learning_rate(0.1, 1024, 256, rule="sqrt")
    0.2
    """
    if rule not in SCALING_RULES:
        raise ValueError(f"`rule` must be one of {SCALING_RULES}. Received: rule={rule!r}")
    if not isinstance(base_learning_rate, (int, float)) or base_learning_rate <= 0:
        raise ValueError(
            "`base_learning_rate` must be a positive number. "
            f"Received: base_learning_rate={base_learning_rate!r}"
        )
    _check_positive_int("global_batch_size", global_batch_size)
    _check_positive_int("base_batch_size", base_batch_size)
    ratio = global_batch_size / base_batch_size
    factor = ratio if rule == "linear" else math.sqrt(ratio)
    return float(base_learning_rate) * factor


@register_serializable()
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Gradual warmup (Goyal et al., 2017) in front of a learning rate or schedule.

    For the first ``warmup_steps`` optimizer steps the rate rises linearly
    from ``initial_learning_rate`` to the target; afterwards it is the target
    (a float), or ``learning_rate(step - warmup_steps)`` when the target is a
    schedule, so a decay starts where warmup ends. Goyal's recipe is
    ``WarmupSchedule(scale_learning_rate(lr, global, base), warmup_steps=
    5 * steps_per_epoch, initial_learning_rate=lr)``. It is computed in the
    graph from ``optimizer.iterations`` and saves with the model.

    Args:
        learning_rate: the target: a float or a Keras ``LearningRateSchedule``.
        warmup_steps: steps of the linear ramp (>= 1).
        initial_learning_rate: the rate at step 0. Defaults to ``0.0``.
        name: name scope of the ops. Defaults to ``"WarmupSchedule"``.

    Raises:
        ValueError: for ``warmup_steps < 1`` or a negative learning rate.
        TypeError: for a target that is neither a number nor a schedule.

    Example:

    >>> schedule = WarmupSchedule(0.4, warmup_steps=4, initial_learning_rate=0.1)
    >>> [round(float(schedule(step)), 3) for step in range(6)]
    [0.1, 0.175, 0.25, 0.325, 0.4, 0.4]
    """

    def __init__(self, learning_rate, warmup_steps, initial_learning_rate=0.0,
                 name="WarmupSchedule"):
        super().__init__()
        if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)):
                raise TypeError(
                    "`learning_rate` must be a number or a tf_keras LearningRateSchedule. "
                    f"Received: learning_rate of type {type(learning_rate).__name__}"
                )
            if learning_rate < 0:
                raise ValueError(
                    f"`learning_rate` must be >= 0. Received: learning_rate={learning_rate!r}"
                )
        _check_positive_int("warmup_steps", warmup_steps)
        if not isinstance(initial_learning_rate, (int, float)) or initial_learning_rate < 0:
            raise ValueError(
                "`initial_learning_rate` must be a number >= 0. "
                f"Received: initial_learning_rate={initial_learning_rate!r}"
            )
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.initial_learning_rate = float(initial_learning_rate)
        self.name = name

    def _target(self, step):
        if callable(self.learning_rate):
            return tf.cast(self.learning_rate(step), tf.float32)
        return tf.constant(float(self.learning_rate), tf.float32)

    def __call__(self, step):
        with tf.name_scope(self.name):
            step = tf.cast(step, tf.float32)
            warmup = tf.constant(float(self.warmup_steps), tf.float32)
            after = self._target(tf.maximum(step - warmup, 0.0))
            peak = self._target(tf.constant(0.0))
            initial = tf.constant(self.initial_learning_rate, tf.float32)
            ramp = initial + (peak - initial) * tf.minimum(step / warmup, 1.0)
            return tf.where(step < warmup, ramp, after)

    def get_config(self):
        learning_rate = self.learning_rate
        if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            learning_rate = keras.optimizers.schedules.serialize(learning_rate)
        return {
            "learning_rate": learning_rate,
            "warmup_steps": self.warmup_steps,
            "initial_learning_rate": self.initial_learning_rate,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["learning_rate"], dict):
            config["learning_rate"] = keras.optimizers.schedules.deserialize(
                config["learning_rate"])
        return cls(**config)
