"""Calibration samples for post-training int8: from tf.data or arrays, validated."""

import numpy as np
import tensorflow as tf


def _input_specs(model):
    return [
        (t.name.split(":")[0], tuple(t.shape[1:]), t.dtype.as_numpy_dtype) for t in model.inputs
    ]


def _features(element, num_inputs):
    """The model-input part of one dataset element or one array argument."""
    if isinstance(element, dict):
        return element
    if isinstance(element, (tuple, list)):
        if num_inputs == 1:
            return element[0] if element else element
        first = element[0] if element else None
        if isinstance(first, (tuple, list, dict)):
            return first
        return element
    return element


def _as_list(features, num_inputs):
    if isinstance(features, dict):
        return list(features.values())
    if num_inputs == 1:
        return [features]
    return list(features)


def _check(arrays, specs):
    if len(arrays) != len(specs):
        raise ValueError(
            f"Calibration data gives {len(arrays)} inputs but the model has "
            f"{len(specs)} ({[s[0] for s in specs]}). Received: calibration with "
            f"{len(arrays)} inputs"
        )
    checked = []
    for array, (name, shape, dtype) in zip(arrays, specs):
        array = np.asarray(array)
        if array.dtype.kind != "f":
            raise ValueError(
                f"Calibration data for model input {name!r} must be floating point "
                f"(the model expects {np.dtype(dtype).name}); cast and scale it as "
                f"you do for training. Received: dtype={array.dtype.name}"
            )
        if array.ndim == len(shape):
            array = array[None]
        sample_shape = array.shape[1:]
        if len(sample_shape) != len(shape) or any(
            want is not None and want != got for want, got in zip(shape, sample_shape)
        ):
            raise ValueError(
                f"Calibration data for model input {name!r} has samples of shape "
                f"{sample_shape} but the model expects {shape} (batch first). "
                f"Received: shape={array.shape}"
            )
        checked.append(array.astype(dtype))
    return checked


def calibration_samples(model, calibration, num_samples):
    """Up to ``num_samples`` validated single-sample input lists for ``model``.

    ``calibration`` is a ``tf.data.Dataset`` (batched or not; elements ``x`` or
    ``(x, y[, w])``), an array of inputs, or a tuple ``(x, y)``.
    """
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise ValueError(
            "`num_calibration_samples` must be a positive integer. "
            f"Received: num_calibration_samples={num_samples!r}"
        )
    specs = _input_specs(model)
    if isinstance(calibration, tf.data.Dataset):
        elements = calibration.as_numpy_iterator()
    elif isinstance(calibration, (np.ndarray, tuple, list, dict)) or tf.is_tensor(calibration):
        elements = [calibration]
    else:
        raise TypeError(
            "`calibration` must be a tf.data.Dataset, an array of model inputs, or a "
            f"tuple (x, y). Received: calibration of type {type(calibration).__name__}"
        )
    samples = []
    for element in elements:
        arrays = _check(_as_list(_features(element, len(specs)), len(specs)), specs)
        for i in range(arrays[0].shape[0]):
            samples.append([a[i : i + 1] for a in arrays])
            if len(samples) >= num_samples:
                return samples
    if not samples:
        raise ValueError(
            "Calibration data is empty: int8 conversion needs representative "
            "inputs to measure activation ranges. Pass a non-empty dataset or array. "
            f"Received: calibration={calibration!r}"
        )
    return samples
