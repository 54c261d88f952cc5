"""``tflite``: one function for float, dynamic-range, int8 and float16 TFLite files."""

import dataclasses
import gzip
import re

import tensorflow as tf
from absl import logging

from tfbig._backend import check_model
from tfbig.export._calibration import calibration_samples
from tfbig.export._files import check_target
from tfbig.export._files import write_bytes
from tfbig.export._interpreter import io_dtypes
from tfbig.export._interpreter import op_kinds

__all__ = ["tflite", "TFLiteSummary", "is_qat_model"]

_QUANTIZE_MODES = (None, "dynamic", "int8", "float16")
_IO_TYPES = {None: tf.float32, "float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8}


@dataclasses.dataclass
class TFLiteSummary:
    """What ``tflite`` wrote.

    Attributes:
        path: the file written.
        quantize: the quantization mode (``None``, ``"dynamic"``, ``"int8"``,
            ``"float16"``).
        bytes: file size.
        gzip_bytes: gzip-compressed size (what a sparse model saves on the wire).
        int8_ops: ``{op name: count}`` of ops running on quantized tensors.
        float_ops: ``{op name: count}`` of ops running in float.
        hybrid_ops: ``{op name: count}`` of float ops with int8 weights.
        input_dtype: the dtype of the first model input (``"float32"``, ``"int8"``).
        output_dtype: the dtype of the first model output.
    """

    path: str
    quantize: object
    bytes: int
    gzip_bytes: int
    int8_ops: dict
    float_ops: dict
    hybrid_ops: dict
    input_dtype: str
    output_dtype: str

    def as_dict(self):
        """The summary as a plain ``dict`` (JSON-ready)."""
        return dataclasses.asdict(self)


def is_qat_model(model):
    """Whether ``model`` has tfmot quantization wrappers (is a QAT model).

    Example:

    >>> from tfbig import keras
    >>> is_qat_model(keras.Sequential([keras.layers.Dense(1, input_shape=(2,))]))
    False
    """
    check_model(model)
    return any(
        type(layer).__name__ in ("QuantizeWrapperV2", "QuantizeWrapper", "QuantizeLayer")
        for layer in model.submodules
    )


def _check_options(model, quantize, calibration, inference_input_type, inference_output_type):
    if quantize not in _QUANTIZE_MODES:
        raise ValueError(
            f"`quantize` must be one of {list(_QUANTIZE_MODES)}. Received: quantize={quantize!r}"
        )
    for arg, value in (
        ("inference_input_type", inference_input_type),
        ("inference_output_type", inference_output_type),
    ):
        if value not in _IO_TYPES:
            raise ValueError(
                f"`{arg}` must be one of {list(_IO_TYPES)}. Received: {arg}={value!r}"
            )
        if value not in (None, "float32") and quantize != "int8":
            raise ValueError(
                f"Integer model input/output needs quantize='int8'. "
                f"Received: {arg}={value!r}, quantize={quantize!r}"
            )
    qat_model = is_qat_model(model)
    if qat_model and quantize != "int8":
        raise ValueError(
            f"Model {model.name!r} was trained with QAT (tfbig.quantize.qat); convert "
            "it with quantize='int8' to get the int8 model it was trained for. "
            f"Received: quantize={quantize!r}"
        )
    if quantize == "int8" and calibration is None and not qat_model:
        raise ValueError(
            "quantize='int8' needs `calibration` data (a tf.data.Dataset or an array "
            "of typical inputs) to measure activation ranges; use quantize='dynamic' "
            "for weights-only int8 without data. Received: calibration=None"
        )
    return qat_model


def _converter(model, batch_size):
    if batch_size is None:
        return tf.lite.TFLiteConverter.from_keras_model(model)
    signature = [
        tf.TensorSpec([batch_size, *t.shape[1:]], t.dtype, name=t.name.split(":")[0])
        for t in model.inputs
    ]
    function = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    concrete = function.get_concrete_function(*signature)
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)


_OP_PATTERN = re.compile(r"'(?:tfl|tf)\.([A-Za-z0-9_]+)'")
_FIX = (
    "Use quantize='dynamic' (int8 weights, float activations), or quantize='int8' "
    "with allow_float_fallback=True to keep such ops in float"
)


def _float_ops_error(model, float_ops, qat_model, calibrated):
    ops = ", ".join(f"{name} (x{count})" for name, count in sorted(float_ops.items()))
    hint = (
        "; a QAT model converted without `calibration` keeps ops QAT did not cover "
        "in float, so pass calibration data too"
        if qat_model and not calibrated
        else ""
    )
    return ValueError(
        f"Model {model.name!r} cannot be fully int8: these ops have no int8 kernel or "
        f"no quantization ranges and stayed float: {ops}{hint}. {_FIX}. "
        "Received: quantize='int8', allow_float_fallback=False"
    )


def _converter_error(error, model):
    ops = sorted(set(_OP_PATTERN.findall(str(error))))
    named = ", ".join(ops) if ops else "an op (see the converter message)"
    return ValueError(
        f"Model {model.name!r} could not be converted to full int8 ({named}). {_FIX}. "
        "Received: quantize='int8', allow_float_fallback=False. "
        f"Converter message: {str(error).strip()[:1500]}"
    )


def _convert(model, quantize, samples, input_type, output_type, allow_float_fallback, batch_size):
    converter = _converter(model, batch_size)
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        if samples:
            converter.representative_dataset = lambda: iter(samples)
        if samples and not allow_float_fallback:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = _IO_TYPES[input_type]
        converter.inference_output_type = _IO_TYPES[output_type]
    try:
        return converter.convert()
    except Exception as error:  # the converter raises ConverterError and friends
        if quantize == "int8" and not allow_float_fallback:
            raise _converter_error(error, model) from error
        raise


def tflite(
    model,
    path,
    quantize=None,
    calibration=None,
    num_calibration_samples=200,
    inference_input_type=None,
    inference_output_type=None,
    allow_float_fallback=False,
    batch_size=None,
    overwrite=False,
):
    """Converts a Keras model to a ``.tflite`` file, optionally quantized.

    ``quantize=None`` keeps float32; ``"dynamic"`` stores int8 weights and
    computes in float (no data needed); ``"int8"`` is full-integer, with
    activation ranges from ``calibration`` data (a QAT model from
    ``tfbig.quantize.qat`` brings its own ranges, and calibration then only fills
    in ops QAT did not cover, e.g. inside LayerNormalization); ``"float16"``
    halves the weights. The file is written atomically.

    Args:
        model: a tf_keras model (float, or QAT from ``tfbig.quantize.qat``).
        path: where to write the ``.tflite`` file.
        quantize: ``None``, ``"dynamic"``, ``"int8"`` or ``"float16"``.
            Defaults to ``None``.
        calibration: representative inputs for ``"int8"``: a ``tf.data.Dataset``
            (elements ``x`` or ``(x, y)``, batched or not), an array, or
            ``(x, y)``. Defaults to ``None``.
        num_calibration_samples: how many samples to calibrate on.
            Defaults to 200.
        inference_input_type: ``None``/``"float32"``, ``"int8"`` or ``"uint8"``
            (int types need ``quantize="int8"``). Defaults to ``None`` (float32).
        inference_output_type: as ``inference_input_type``, for the outputs.
            Defaults to ``None`` (float32).
        allow_float_fallback: under ``"int8"``, keep ops without an int8 kernel in
            float instead of failing. Defaults to ``False``.
        batch_size: fix the batch dimension (1 suits on-device latency); ``None``
            keeps it dynamic. Defaults to ``None``.
        overwrite: replace an existing file. Defaults to ``False``.

    Returns:
        A :class:`TFLiteSummary` (sizes, int8 vs float ops, I/O dtypes).

    Raises:
        TypeError: for a Keras 3 model or calibration of an unknown type.
        ValueError: for an existing ``path``, bad options, calibration data of the
            wrong shape/dtype or empty, or an op that cannot be int8.

    Example:

    >>> import os, tempfile
    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.tflite")
    >>> tflite(m, path, quantize="dynamic").bytes > 0
    True
    """
    check_model(model)
    path = check_target(path, overwrite)
    qat_model = _check_options(
        model, quantize, calibration, inference_input_type, inference_output_type
    )
    samples = None
    if quantize == "int8" and calibration is not None:
        samples = calibration_samples(model, calibration, num_calibration_samples)
    flatbuffer = _convert(
        model, quantize, samples, inference_input_type, inference_output_type,
        allow_float_fallback, batch_size,
    )
    kinds = op_kinds(flatbuffer)
    leftover = dict(kinds["float"] + kinds["hybrid"])
    if quantize == "int8" and leftover and not allow_float_fallback:
        raise _float_ops_error(model, leftover, qat_model, samples is not None)
    write_bytes(path, flatbuffer)
    input_dtype, output_dtype = io_dtypes(flatbuffer)
    summary = TFLiteSummary(
        path=path,
        quantize=quantize,
        bytes=len(flatbuffer),
        gzip_bytes=len(gzip.compress(flatbuffer, 9)),
        int8_ops=dict(kinds["int8"]),
        float_ops=dict(kinds["float"]),
        hybrid_ops=dict(kinds["hybrid"]),
        input_dtype=input_dtype,
        output_dtype=output_dtype,
    )
    logging.info(
        "tfbig.export.tflite: wrote %s (%d bytes, %s%s), int8 ops %s, float ops %s",
        path, summary.bytes, quantize, " QAT" if qat_model else "", summary.int8_ops,
        summary.float_ops,
    )
    return summary
