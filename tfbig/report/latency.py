"""Inference latency of Keras models and TFLite files, at batch 1 and batch N.

Timings are wall-clock medians over ``repeats`` calls after ``warmup`` calls,
on random inputs in ``[0, 1)``. Keras models run through a ``tf.function``
(graph mode, as ``model.predict`` does), TFLite files through the LiteRT
interpreter. On a shared machine, compare medians measured side by side.
"""

import dataclasses
import os
import time

import numpy as np

from tfbig._backend import check_model
from tfbig._backend import keras
from tfbig.report import _tflite

__all__ = ["LatencyInfo", "measure_latency"]


@dataclasses.dataclass
class LatencyInfo:
    """Latency of one batch size.

    Attributes:
        batch_size: examples per call.
        median_ms: median wall time of one call, in milliseconds.
        p90_ms: 90th percentile of one call, in milliseconds.
    """

    batch_size: int
    median_ms: float
    p90_ms: float

    @property
    def per_example_ms(self):
        """``median_ms / batch_size``."""
        return self.median_ms / self.batch_size


def _time_calls(call, repeats, warmup):
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times)), float(np.percentile(times, 90))


def _keras_call(model, batch_size, input_shape):
    import tensorflow as tf

    shape = input_shape or model.input_shape[1:]
    if any(d is None for d in shape):
        raise ValueError(
            "The model's input shape has unknown dimensions; pass `input_shape` "
            f"(without the batch dimension). Received: input_shape={input_shape!r}"
        )
    x = tf.constant(np.random.default_rng(0).random((batch_size, *shape), dtype="float32"))
    fn = tf.function(lambda t: model(t, training=False))
    return lambda: fn(x).numpy()


def _tflite_call(path, batch_size, num_threads):
    interp = _tflite.interpreter(path, num_threads)
    in_detail, out_detail = _tflite.prepare(interp, batch_size)
    shape = tuple(in_detail["shape"])
    x = _tflite.quantize_input(
        np.random.default_rng(0).random(shape, dtype="float32"), in_detail
    )

    def call():
        interp.set_tensor(in_detail["index"], x)
        interp.invoke()
        return interp.get_tensor(out_detail["index"])

    return call


def measure_latency(
    model, batch_size=1, repeats=30, warmup=3, input_shape=None, num_threads=None
):
    """Median latency of one inference call of a Keras model or a TFLite file.

    Args:
        model: a tf_keras model, or the path of a ``.tflite`` file.
        batch_size: examples per call. Defaults to 1.
        repeats: timed calls. Defaults to 30.
        warmup: untimed calls first (tracing, allocation). Defaults to 3.
        input_shape: input shape without the batch dimension, for models whose
            input shape has unknown dimensions. Defaults to ``None`` (read it
            from the model).
        num_threads: TFLite interpreter threads. Defaults to ``None``
            (the interpreter's default).

    Returns:
        A :class:`LatencyInfo`.

    Raises:
        ValueError: for a bad ``batch_size``/``repeats`` or a missing file.
        TypeError: for anything that is neither a model nor a path.

    Example:

    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
    >>> info = measure_latency(m, batch_size=8, repeats=3)
    >>> info.batch_size, info.median_ms > 0
    (8, True)
    """
    for name, value in (("batch_size", batch_size), ("repeats", repeats)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(
                f"`{name}` must be a positive integer. Received: {name}={value!r}"
            )
    if isinstance(model, (str, os.PathLike)):
        if not os.path.isfile(model):
            raise ValueError(
                f"No TFLite file at `model`. Received: model={os.fspath(model)!r}"
            )
        call = _tflite_call(model, batch_size, num_threads)
    elif isinstance(model, keras.Model):
        call = _keras_call(check_model(model), batch_size, input_shape)
    else:
        check_model(model)  # raises the standard TypeError (Keras 3, other)
    median, p90 = _time_calls(call, repeats, warmup)
    return LatencyInfo(batch_size=batch_size, median_ms=median, p90_ms=p90)
