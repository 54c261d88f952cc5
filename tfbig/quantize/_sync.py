"""Activation ranges from the global batch under ``tf.distribute`` strategies.

tfmot's ``MovingAverageQuantizer`` (EMA of the batch min/max) and
``AllValuesQuantizer`` (running min/max, used on the model inputs) take the
min/max of each replica's local batch; the range variables then average those
across replicas, so N replicas learn different ranges than one device does on
the same global batch. The quantizers here all-reduce the batch min/max across
replicas first (``ReduceOp`` has neither ``MIN`` nor ``MAX``: an exact ``SUM``
of per-replica rows, then a local max; the min as ``-max(-x)``), so every
replica updates with the global batch min/max; the variables' mean of equal
values is that value. The range maths is tfmot's ``quant_ops``, unchanged.

:class:`SyncRangesScheme` wraps a tfmot ``QuantizeScheme`` so every
``QuantizeConfig`` it hands out (registry, layout transforms, input
``QuantizeLayer``) uses these quantizers; ``qat`` applies it.
"""

import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras import quant_ops
from tensorflow_model_optimization.python.core.quantization.keras import quantize_layer

from tfbig._backend import keras
from tfbig._backend import register_serializable

__all__ = [
    "SyncAllValuesQuantizer",
    "SyncMovingAverageQuantizer",
    "SyncRangesQuantizeConfig",
    "SyncRangesScheme",
    "global_min_max",
]

_quantizers = tfmot.quantization.keras.quantizers


def global_min_max(batch_min, batch_max):
    """``(min, max)`` over all replicas in sync; unchanged outside a replica context."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return batch_min, batch_max
    # ReduceOp has neither MIN nor MAX: each replica writes its (-min, max) into
    # its own row of zeros, an exact SUM all-reduce gathers the rows, and the
    # max is taken locally (min as -max(-x)).
    local = tf.stop_gradient(tf.stack([-batch_min, batch_max]))
    rows = tf.one_hot(context.replica_id_in_sync_group, context.num_replicas_in_sync)
    rows = tf.reshape(tf.cast(rows, tf.bool), [-1] + [1] * len(local.shape))
    gathered = context.all_reduce(
        tf.distribute.ReduceOp.SUM, tf.where(rows, local[None], tf.zeros_like(local)[None]))
    neg_min, batch_max = tf.unstack(tf.reduce_max(gathered, axis=0))
    return -neg_min, batch_max


def _batch_min_max(inputs, per_channel):
    if per_channel and len(inputs.shape) >= 2:
        axis = list(range(len(inputs.shape) - 1))
        return tf.reduce_min(inputs, axis=axis), tf.reduce_max(inputs, axis=axis)
    if per_channel:
        return inputs, inputs
    return tf.reduce_min(inputs), tf.reduce_max(inputs)


def _symmetric(batch_min, batch_max, num_bits, narrow_range):
    ratio = -1 if narrow_range else -((1 << num_bits) - 2) / (1 << num_bits)
    return tf.minimum(batch_min, batch_max / ratio), tf.maximum(batch_max, batch_min * ratio)


def moving_average_quantize(inputs, min_var, max_var, per_channel, ema_decay, is_training,
                            num_bits, narrow_range, symmetric):
    """tfmot's ``quant_ops.MovingAvgQuantize`` with the global batch min/max."""
    if not is_training:
        return quant_ops._FakeQuantWithMinMaxVars(  # noqa: SLF001
            inputs, min_var, max_var, per_channel=per_channel, num_bits=num_bits,
            narrow_range=narrow_range)
    batch_min, batch_max = global_min_max(*_batch_min_max(inputs, per_channel))
    if symmetric:
        range_min, range_max = _symmetric(batch_min, batch_max, num_bits, narrow_range)
    else:
        range_min, range_max = tf.minimum(batch_min, 0.0), tf.maximum(batch_max, 0.0)
    assign_min = tf.__internal__.train.assign_moving_average(
        min_var, range_min, ema_decay, zero_debias=False, name="AssignMinEma")
    assign_max = tf.__internal__.train.assign_moving_average(
        max_var, range_max, ema_decay, zero_debias=False, name="AssignMaxEma")
    return quant_ops._FakeQuantWithMinMaxVars(  # noqa: SLF001
        inputs, assign_min, assign_max, per_channel=per_channel, num_bits=num_bits,
        narrow_range=narrow_range)


def all_values_quantize(inputs, min_var, max_var, is_training, num_bits, narrow_range,
                        symmetric):
    """tfmot's ``quant_ops.AllValuesQuantize`` with the global batch min/max."""
    if is_training:
        batch_min, batch_max = global_min_max(tf.reduce_min(inputs), tf.reduce_max(inputs))
        if symmetric:
            batch_min, batch_max = _symmetric(batch_min, batch_max, num_bits, narrow_range)
        min_var = min_var.assign(tf.minimum(tf.minimum(min_var, batch_min), 0.0))
        max_var = max_var.assign(tf.maximum(tf.maximum(max_var, batch_max), 0.0))
    return quant_ops._FakeQuantWithMinMaxVars(  # noqa: SLF001
        inputs, min_var, max_var, per_channel=False, num_bits=num_bits,
        narrow_range=narrow_range)


@register_serializable()
class SyncMovingAverageQuantizer(_quantizers.MovingAverageQuantizer):
    """tfmot's ``MovingAverageQuantizer`` fed the global batch min/max across replicas.

    Same arguments, variables and inference as tfmot's; only the training-time
    range update differs under a multi-replica strategy.

    Example:

    >>> q = SyncMovingAverageQuantizer(num_bits=8, per_axis=False,
    ...                                symmetric=False, narrow_range=False)
    >>> q.get_config()["num_bits"]
    8
    """

    def __call__(self, inputs, training, weights, **kwargs):
        return moving_average_quantize(
            inputs, weights["min_var"], weights["max_var"], per_channel=self.per_axis,
            ema_decay=0.999, is_training=training, num_bits=self.num_bits,
            narrow_range=self.narrow_range, symmetric=self.symmetric)


@register_serializable()
class SyncAllValuesQuantizer(_quantizers.AllValuesQuantizer):
    """tfmot's ``AllValuesQuantizer`` fed the global batch min/max across replicas.

    Example:

    >>> q = SyncAllValuesQuantizer(num_bits=8, per_axis=False,
    ...                            symmetric=False, narrow_range=False)
    >>> q.get_config()["symmetric"]
    False
    """

    def __call__(self, inputs, training, weights, **kwargs):
        if self.per_axis:
            return super().__call__(inputs, training, weights, **kwargs)
        return all_values_quantize(
            inputs, weights["min_var"], weights["max_var"], is_training=training,
            num_bits=self.num_bits, narrow_range=self.narrow_range, symmetric=self.symmetric)


_SYNCED = {
    _quantizers.MovingAverageQuantizer: SyncMovingAverageQuantizer,
    _quantizers.AllValuesQuantizer: SyncAllValuesQuantizer,
}


def synced(quantizer):
    """The replica-synchronised equivalent of a tfmot range quantizer, else itself."""
    cls = _SYNCED.get(type(quantizer))
    return cls.from_config(quantizer.get_config()) if cls else quantizer


@register_serializable()
class SyncRangesQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
    """Wraps a ``QuantizeConfig``; its activation/output range quantizers use global ranges.

    Args:
        config: the wrapped tfmot ``QuantizeConfig``.

    Example:

    >>> from tfbig.quantize.configs import LayerQuantizeConfig
    >>> c = SyncRangesQuantizeConfig(LayerQuantizeConfig(quantize_output=True))
    >>> type(c.get_output_quantizers(None)[0]).__name__
    'NamedMovingAverageQuantizer'
    """

    def __init__(self, config):
        self.config = config

    def get_weights_and_quantizers(self, layer):
        return self.config.get_weights_and_quantizers(layer)

    def get_activations_and_quantizers(self, layer):
        return [(a, synced(q)) for a, q in self.config.get_activations_and_quantizers(layer)]

    def set_quantize_weights(self, layer, quantize_weights):
        self.config.set_quantize_weights(layer, quantize_weights)

    def set_quantize_activations(self, layer, quantize_activations):
        self.config.set_quantize_activations(layer, quantize_activations)

    def get_output_quantizers(self, layer):
        return [synced(q) for q in self.config.get_output_quantizers(layer)]

    def get_config(self):
        return {"config": keras.utils.serialize_keras_object(self.config)}

    @classmethod
    def from_config(cls, config):
        return cls(keras.utils.deserialize_keras_object(config["config"]))

    def __eq__(self, other):
        return isinstance(other, SyncRangesQuantizeConfig) and self.config == other.config

    def __ne__(self, other):
        return not self == other


def _wrap(config):
    if config is None or isinstance(config, SyncRangesQuantizeConfig):
        return config
    return SyncRangesQuantizeConfig(config)


class _SyncRegistry:
    def __init__(self, registry):
        self._registry = registry

    def supports(self, layer):
        return self._registry.supports(layer)

    def get_quantize_config(self, layer):
        return _wrap(self._registry.get_quantize_config(layer))


class _SyncLayoutTransform:
    def __init__(self, transform):
        self._transform = transform

    def apply(self, model, layer_quantize_map):
        model, layer_quantize_map = self._transform.apply(model, layer_quantize_map)
        for entry in layer_quantize_map.values():
            if entry.get("quantize_config") is not None:
                entry["quantize_config"] = _wrap(entry["quantize_config"])
            if entry.get("quantizer") is not None:
                entry["quantizer"] = synced(entry["quantizer"])
        for layer in model.layers:
            if isinstance(layer, quantize_layer.QuantizeLayer) and layer.quantizer is not None:
                layer.quantizer = synced(layer.quantizer)
        return model, layer_quantize_map


class SyncRangesScheme(tfmot.quantization.keras.QuantizeScheme):
    """A tfmot ``QuantizeScheme`` whose activation ranges use the global batch.

    Args:
        scheme: the wrapped scheme, e.g. ``Default8BitQuantizeScheme()``.
    """

    def __init__(self, scheme):
        self.scheme = scheme

    def get_layout_transformer(self):
        return _SyncLayoutTransform(self.scheme.get_layout_transformer())

    def get_quantize_registry(self):
        return _SyncRegistry(self.scheme.get_quantize_registry())
