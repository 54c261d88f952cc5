"""Replica-synchronised activation ranges (tfbig/quantize/_sync.py)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras import quantize_layer
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_registry as _default_registry,
)
from tensorflow_model_optimization.python.core.quantization.keras import quantize_wrapper

from tests.quantize import trained
from tfbig import keras
from tfbig.quantize._sync import SyncAllValuesQuantizer
from tfbig.quantize._sync import SyncMovingAverageQuantizer
from tfbig.quantize._sync import SyncRangesQuantizeConfig
from tfbig.quantize._sync import global_min_max
from tfbig.quantize.configs import LayerQuantizeConfig

_tfq = tfmot.quantization.keras
_TFMOT_RANGE_QUANTIZERS = (_tfq.quantizers.MovingAverageQuantizer,
                           _tfq.quantizers.AllValuesQuantizer)
_SYNCED = (SyncMovingAverageQuantizer, SyncAllValuesQuantizer)


def _mirrored(num_replicas):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:num_replicas]
    return tf.distribute.MirroredStrategy(
        devices, cross_device_ops=tf.distribute.ReductionToOneDevice())


def _range_quantizers(model):
    for layer in model.layers:
        if isinstance(layer, quantize_layer.QuantizeLayer):
            yield layer.name, layer.quantizer
        if isinstance(layer, quantize_wrapper.QuantizeWrapper):
            for activation in layer._quantize_activations:
                yield layer.name, activation.quantizer
            for quantizer in layer._output_quantizers:
                yield layer.name, quantizer


@pytest.mark.parametrize("replicas", [2, 4])
def test_global_min_max_is_the_min_max_over_all_replicas(replicas):
    strategy = _mirrored(replicas)
    values = np.arange(replicas * 3, dtype="float32").reshape(replicas, 3) - 5.0

    def step():
        ctx = tf.distribute.get_replica_context()
        local = tf.gather(tf.constant(values), ctx.replica_id_in_sync_group)
        return global_min_max(local, local)  # per-channel: elementwise over replicas

    lows, highs = strategy.run(tf.function(step))
    for low, high in zip(strategy.experimental_local_results(lows),
                         strategy.experimental_local_results(highs)):
        np.testing.assert_array_equal(low, values.min(0))
        np.testing.assert_array_equal(high, values.max(0))


def test_global_min_max_is_the_identity_on_one_device():
    low, high = global_min_max(tf.constant(-1.0), tf.constant(2.0))
    assert (float(low), float(high)) == (-1.0, 2.0)


@pytest.mark.parametrize("builder", ["qat_cnn", "qat_transformer"])
def test_every_range_quantizer_of_qat_is_synchronised(builder):
    quantizers = list(_range_quantizers(getattr(trained, builder)()))
    assert quantizers
    stale = [
        (name, type(q).__name__) for name, q in quantizers
        if isinstance(q, _TFMOT_RANGE_QUANTIZERS) and not isinstance(q, _SYNCED)
    ]
    assert not stale, stale


def test_sync_config_round_trips_and_wraps_tfmot_quantizers():
    config = SyncRangesQuantizeConfig(LayerQuantizeConfig(quantize_output=True))
    again = keras.utils.deserialize_keras_object(keras.utils.serialize_keras_object(config))
    assert again == config
    dense = keras.layers.Dense(2)
    tfmot_config = _default_registry.Default8BitQuantizeRegistry().get_quantize_config(dense)
    wrapped = SyncRangesQuantizeConfig(tfmot_config)
    [(_, quantizer)] = wrapped.get_activations_and_quantizers(dense)
    assert type(quantizer) is SyncMovingAverageQuantizer
    assert quantizer.get_config() == tfmot_config.activation_quantizer.get_config()
