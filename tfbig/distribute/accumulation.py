"""Gradient accumulation: a global batch k times larger than memory allows.

tf_keras optimizers cannot accumulate gradients. :class:`GradientAccumulationOptimizer`
wraps any tf_keras optimizer: each ``apply_gradients`` call (one micro-batch)
adds the replica's local gradients to per-replica accumulators, and every
``accumulation_steps`` calls the inner optimizer applies their mean. Gradients
are all-reduced only then, once per k micro-steps, under ``MirroredStrategy``
and ``MultiWorkerMirroredStrategy`` alike. Being an optimizer, it composes with
any ``train_step`` (distillers, pruning and QAT wrappers) and any callback.
"""

import tensorflow as tf

from tfbig._backend import is_keras3_object
from tfbig._backend import keras
from tfbig._backend import register_serializable

__all__ = ["GradientAccumulationOptimizer", "accumulate_gradients"]


def _check_inner(optimizer):
    if is_keras3_object(optimizer) or not isinstance(optimizer, keras.optimizers.Optimizer):
        kind = type(optimizer).__module__ + "." + type(optimizer).__qualname__
        raise TypeError(
            "`inner_optimizer` must be a tf_keras optimizer such as "
            "`tfbig.keras.optimizers.SGD(...)`, not a legacy or Keras 3 one (build it "
            "with `from tfbig import keras`, or set TF_USE_LEGACY_KERAS=1 before "
            f"importing TensorFlow). Received: inner_optimizer of type {kind}"
        )
    return optimizer


@register_serializable()
class GradientAccumulationOptimizer(keras.optimizers.Optimizer):
    """Applies the mean gradient of ``accumulation_steps`` micro-batches.

    With micro-batches of ``b`` examples and ``k = accumulation_steps``, the
    model is updated every k batches with the gradient of the mean loss over
    ``k * b`` examples: exactly one step of a k times larger batch (for models
    without batch statistics). Use it when the global batch you want does not
    fit in memory. ``model.fit`` counts micro-batches as steps; the inner
    optimizer's ``iterations`` (and its learning-rate schedule) counts
    updates. Accumulators are checkpointed, so ``BackupAndRestore`` resumes
    mid-accumulation. Under ``mixed_float16`` Keras wraps this optimizer in its
    ``LossScaleOptimizer`` (which then all-reduces every micro-step; results
    are unchanged).

    Args:
        inner_optimizer: the tf_keras optimizer that applies the updates.
        accumulation_steps: micro-batches per update (>= 1). Defaults to ``2``.
        name: the optimizer name. Defaults to ``"GradientAccumulation"``.

    Raises:
        TypeError: for a legacy or Keras 3 optimizer.
        ValueError: for ``accumulation_steps < 1``.

    Example:

    >>> from tfbig import keras
    >>> opt = GradientAccumulationOptimizer(keras.optimizers.SGD(0.1), 4)
    >>> opt.accumulation_steps, float(opt.learning_rate)
    (4, 0.1...)
    """

    def __init__(self, inner_optimizer, accumulation_steps=2, name="GradientAccumulation",
                 **kwargs):
        if isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps, int) or (
            accumulation_steps < 1
        ):
            raise ValueError(
                "`accumulation_steps` must be an integer >= 1 (micro-batches per update). "
                f"Received: accumulation_steps={accumulation_steps!r}"
            )
        self._optimizer = _check_inner(inner_optimizer)
        self.accumulation_steps = accumulation_steps
        kwargs.pop("learning_rate", None)
        super().__init__(name=name, jit_compile=False, **kwargs)

    @property
    def inner_optimizer(self):
        """The wrapped optimizer that applies the updates."""
        return self._optimizer

    def _create_iteration_variable(self):
        # `iterations` is the inner optimizer's (it counts updates).
        pass

    @property
    def iterations(self):
        return self._optimizer.iterations

    @iterations.setter
    def iterations(self, variable):
        self._optimizer.iterations = variable

    @property
    def learning_rate(self):
        return self._optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self._optimizer.learning_rate = learning_rate

    def build(self, var_list):
        if getattr(self, "_built", False):
            return
        self._build_index_dict(var_list)
        self._optimizer.build(var_list)
        strategy = tf.distribute.get_strategy()
        on_read = tf.VariableSynchronization.ON_READ
        self._accumulators = []
        for var in var_list:
            dtype = getattr(var, "true_dtype", var.dtype)
            with strategy.extended.colocate_vars_with(var):
                self._accumulators.append(tf.Variable(
                    tf.zeros(var.shape, dtype), name="accumulator", trainable=False,
                    synchronization=on_read, aggregation=tf.VariableAggregation.SUM))
        self._micro_steps = tf.Variable(
            0, dtype=tf.int64, name="micro_steps", trainable=False, synchronization=on_read,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self._variables.extend(self._accumulators + [self._micro_steps])
        self._built = True

    def compute_gradients(self, loss, var_list, tape=None):
        return self._optimizer.compute_gradients(loss, var_list, tape=tape)

    def apply_gradients(self, grads_and_vars, name=None, skip_gradients_aggregation=False,
                        **kwargs):
        """Accumulates one micro-batch; every k-th call applies the mean."""
        grads_and_vars = [(g, v) for g, v in grads_and_vars if g is not None]
        if not grads_and_vars:
            return self.iterations
        if tf.distribute.in_cross_replica_context():
            raise ValueError(
                "apply_gradients() must be called in a replica context (inside "
                "`strategy.run` or `model.fit`). Received: cross-replica context"
            )
        aggregate = not skip_gradients_aggregation and kwargs.pop(
            "experimental_aggregate_gradients", True)
        variables = [v for _, v in grads_and_vars]
        with tf.init_scope():
            self.build(variables)
        for grad, var in grads_and_vars:
            acc = self._accumulators[self._index_dict[self._var_key(var)]]
            acc.assign_add(tf.cast(tf.convert_to_tensor(grad), acc.dtype), read_value=False)
        count = self._micro_steps.assign_add(1)

        def apply_fn():
            self._apply_mean(variables, aggregate)

        if tf.__internal__.distribute.strategy_supports_no_merge_call():
            tf.__internal__.smart_cond.smart_cond(
                count % self.accumulation_steps == 0, apply_fn, lambda: None)
        else:
            def cross_replica(distribution, count):
                should = distribution.experimental_local_results(count)[0]
                # The cond must be taken in cross-replica context: the inner
                # optimizer calls `merge_call` (as in Keras' LossScaleOptimizer).
                tf.__internal__.smart_cond.smart_cond(
                    should % self.accumulation_steps == 0,
                    lambda: distribution.extended.call_for_each_replica(apply_fn),
                    lambda: None)

            tf.distribute.get_replica_context().merge_call(cross_replica, args=(count,))
        return self.iterations

    def _apply_mean(self, variables, aggregate):
        accs = [self._accumulators[self._index_dict[self._var_key(v)]] for v in variables]
        means = [acc.read_value() / self.accumulation_steps for acc in accs]
        means = [tf.cast(m, v.dtype) if m.dtype != v.dtype else m for m, v in zip(means, variables)]
        self._optimizer.apply_gradients(
            list(zip(means, variables)), skip_gradients_aggregation=not aggregate)
        for acc in accs:
            acc.assign(tf.zeros_like(acc), read_value=False)

    def get_config(self):
        return {
            "inner_optimizer": keras.optimizers.serialize(self._optimizer),
            "accumulation_steps": self.accumulation_steps,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = config.pop("inner_optimizer")
        if isinstance(inner, dict):
            inner = keras.optimizers.deserialize(
                inner, custom_objects=custom_objects, use_legacy_optimizer=False)
        return cls(inner, **config)


def accumulate_gradients(optimizer, steps):
    """Wraps ``optimizer`` so each update uses the mean gradient of ``steps`` batches.

    Args:
        optimizer: a tf_keras optimizer (e.g. ``keras.optimizers.SGD(0.1)``).
        steps: micro-batches per update (>= 1).

    Returns:
        A :class:`GradientAccumulationOptimizer` to pass to ``model.compile``.

    Raises:
        TypeError: for a legacy or Keras 3 optimizer.
        ValueError: for ``steps < 1``.

    Example:

    >>> from tfbig import keras
    >>> accumulate_gradients(keras.optimizers.SGD(0.1), steps=8).accumulation_steps
    8
    """
    return GradientAccumulationOptimizer(optimizer, accumulation_steps=steps)
