"""tfbig's pruning wrapper: tfmot's ``PruneLowMagnitude`` without its walls.

It is a subclass of tfmot's wrapper, so the masks, thresholds, schedules,
block and m:n sparsity are tfmot's own code. What it changes:

- **No partner callback.** The step counter starts itself: tfmot's wrapper
  starts it at -1 and crashes mid-training unless ``UpdatePruningStep`` set it
  to 0 first. The step still counts training calls and is saved with the model.
- **Mixed precision** (tfmot issue #409): masks and weights are read and
  written in the variables' own dtype (float32), not in the float16/bfloat16
  compute dtype (which fails, and would round the master weights).
- **Multiple call arguments** (``MultiHeadAttention(query, value)``) pass
  through to the wrapped layer.
- **Global ranking**: with ``ranking="global"`` the wrapper leaves its masks
  to :class:`tfbig.prune.PruningCallback`, which ranks all layers together.
- **Complete config**: ``sparsity_m_by_n`` and ``ranking`` survive saving,
  and tfbig's schedules load without ``prune_scope``.
- More layers: ``EinsumDense`` kernels (the registry in ``_registry.py``).
"""

import inspect

import tensorflow as tf
from tensorflow_model_optimization.python.core.keras import utils as tfmot_utils
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_impl
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tfbig._backend import check_layer
from tfbig._backend import keras
from tfbig._backend import register_serializable
from tfbig.prune import _clone
from tfbig.prune import _registry
from tfbig.prune import schedules as schedules_lib

__all__ = ["PruneLowMagnitude"]

RANKINGS = ("layer", "global")


def _true_variable(variable):
    """The float32 variable behind a mixed-precision ``AutoCastVariable``."""
    if hasattr(variable, "true_dtype") and hasattr(variable, "_variable"):
        return variable._variable  # pylint: disable=protected-access
    return variable


@register_serializable()
class PruneLowMagnitude(pruning_wrapper.PruneLowMagnitude):
    """Wraps a layer so its prunable weights are masked to a scheduled sparsity.

    Usually made for you by :func:`tfbig.prune.magnitude`; use it directly to
    hand-build a model layer by layer. A model that contains it trains with
    any ``fit`` (no ``UpdatePruningStep`` needed) unless ``ranking="global"``,
    which needs :class:`tfbig.prune.PruningCallback` (added by the models
    ``magnitude`` returns).

    Args:
        layer: the tf_keras layer to prune: one tfmot's registry supports,
            an ``EinsumDense``, or a tfmot ``PrunableLayer``.
        pruning_schedule: a tfmot ``PruningSchedule`` (tfbig's or tfmot's).
            Defaults to ``None`` (``ConstantSparsity(0.5)``).
        block_size: ``(height, width)`` blocks for rank-2 weights.
            Defaults to ``(1, 1)``.
        block_pooling_type: ``"AVG"`` or ``"MAX"``. Defaults to ``"AVG"``.
        sparsity_m_by_n: e.g. ``(2, 4)`` for 2 zeros in every 4 weights.
            Defaults to ``None``.
        ranking: ``"layer"`` (each layer reaches the sparsity) or
            ``"global"`` (masks set by ``PruningCallback`` across layers).
            Defaults to ``"layer"``.
        **kwargs: passed to ``keras.layers.Wrapper``.

    Example:

    >>> from tfbig import keras
    >>> w = PruneLowMagnitude(keras.layers.Dense(4, name="fc"))
    >>> w(keras.Input((3,))).shape.as_list()
    [None, 4]
    >>> w.name
    'prune_low_magnitude_fc'
    """

    def __init__(self, layer, pruning_schedule=None, block_size=(1, 1),
                 block_pooling_type="AVG", sparsity_m_by_n=None, ranking="layer", **kwargs):
        check_layer(layer)
        if ranking not in RANKINGS:
            raise ValueError(
                f"`ranking` must be one of {RANKINGS}. Received: ranking={ranking!r}"
            )
        _registry.make_prunable(layer)
        if pruning_schedule is None:
            pruning_schedule = schedules_lib.ConstantSparsity(0.5)
        self.ranking = ranking
        kwargs.pop("name", None)  # the name is always derived from the layer's
        super().__init__(layer, pruning_schedule=pruning_schedule,
                         block_size=tuple(block_size), block_pooling_type=block_pooling_type,
                         sparsity_m_by_n=sparsity_m_by_n, **kwargs)

    def build(self, input_shape):
        _clone.materialize(self.layer, self.layer)  # a loaded MultiHeadAttention
        super().build(input_shape)
        # Work on the true (float32) variables so that mixed precision neither
        # fails on assignment nor rounds the master weights to float16.
        self.pruning_vars = [
            (_true_variable(w), _true_variable(m), _true_variable(t))
            for w, m, t in self.pruning_vars
        ]
        self.pruning_obj = pruning_impl.Pruning(
            training_step_fn=lambda: self.pruning_step,
            pruning_vars=self.pruning_vars,
            pruning_schedule=self.pruning_schedule,
            block_size=self.block_size,
            sparsity_m_by_n=self.sparsity_m_by_n,
            block_pooling_type=self.block_pooling_type,
        )

    def call(self, inputs, *args, **kwargs):
        # No named `training` parameter: Keras would bind a second positional
        # input (MultiHeadAttention's `value`) to it. Keras passes it in kwargs.
        training = kwargs.pop("training", None)
        if training is None:
            training = keras.backend.learning_phase()

        def step_and_mask():
            # max(step, 0): a fresh wrapper (step -1) starts by itself.
            step = self.pruning_step.assign(tf.maximum(self.pruning_step, 0) + 1)
            if self.ranking == "global":
                return tf.group(step)
            with tf.control_dependencies([step]):
                return tf.group(self.pruning_obj.conditional_mask_update())

        self.add_update(tfmot_utils.smart_cond(training, step_and_mask, tf.no_op))
        self.add_update(self._mask_weights())
        if "training" in inspect.getfullargspec(self.layer.call).args:
            kwargs["training"] = training
        return self.layer.call(inputs, *args, **kwargs)

    def _mask_weights(self):
        """``weight = weight * mask`` on every replica.

        Replaces tfmot's op, which all-reduces the masked weights (a needless
        collective: mirrored weights are equal) and fails on a model built
        under a strategy but called outside its scope.
        """

        def assign_all(strategy=None):
            ops = []
            for weight, mask, _ in self.pruning_vars:
                if strategy is None:
                    ops.append(weight.assign(weight * tf.cast(mask, weight.dtype)))
                else:
                    ops.append(strategy.extended.update(
                        weight, lambda w, m: w.assign(w * tf.cast(m, w.dtype)), args=(mask,)))
            return tf.group(ops)

        if tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context():
            return tf.distribute.get_replica_context().merge_call(assign_all)
        return assign_all()

    def get_config(self):
        config = super().get_config()
        config.update(sparsity_m_by_n=self.sparsity_m_by_n, ranking=self.ranking,
                      block_size=tuple(self.block_size))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        custom_objects = {
            "ConstantSparsity": pruning_schedule.ConstantSparsity,
            "PolynomialDecay": pruning_schedule.PolynomialDecay,
        }
        config["pruning_schedule"] = keras.utils.deserialize_keras_object(
            config.pop("pruning_schedule"), custom_objects=custom_objects
        )
        config["layer"] = keras.layers.deserialize(config.pop("layer"))
        return cls(**config)

    def masked_weights(self):
        """The effective prunable weights (``weight * mask``) as numpy arrays."""
        return [
            keras.backend.get_value(w) * keras.backend.get_value(m)
            for w, m, _ in self.pruning_vars
        ]
