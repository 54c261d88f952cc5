"""Mixed precision switch: float16 or bfloat16 compute, float32 variables.

``set_mixed_precision("mixed_float16")`` sets the Keras global policy; models
built afterwards compute in float16 and keep float32 variables, and
``model.compile`` wraps the optimizer in Keras' dynamic ``LossScaleOptimizer``
(loss scaling, skipped steps on overflow) -- also when the optimizer is a
:class:`~tfbig.distribute.GradientAccumulationOptimizer`. ``mixed_bfloat16``
needs no loss scaling. Keep the last layer's output float32 (e.g. a final
``Activation("linear", dtype="float32")``) so the loss is computed in float32.
"""

from absl import logging

from tfbig._backend import keras

__all__ = ["set_mixed_precision", "PRECISION_POLICIES"]

PRECISION_POLICIES = ("mixed_float16", "mixed_bfloat16", "float32")


def set_mixed_precision(policy="mixed_float16"):
    """Sets the global Keras dtype policy; returns the previous policy's name.

    Call it before building the model (and its optimizer). Pass the returned
    name back to restore the previous policy.

    Args:
        policy: ``"mixed_float16"`` (GPUs; loss-scaled by ``compile``),
            ``"mixed_bfloat16"`` (TPUs, recent GPUs and CPUs) or
            ``"float32"`` (off). Defaults to ``"mixed_float16"``.

    Returns:
        The name of the policy that was in effect before.

    Raises:
        ValueError: for any other policy name.

    Example:

    >>> previous = set_mixed_precision("mixed_bfloat16")
    >>> from tfbig import keras
    >>> keras.layers.Dense(2).compute_dtype
    'bfloat16'
    >>> set_mixed_precision(previous)
    'mixed_bfloat16'
    """
    if policy not in PRECISION_POLICIES:
        raise ValueError(
            f"`policy` must be one of {PRECISION_POLICIES}. Received: policy={policy!r}"
        )
    previous = keras.mixed_precision.global_policy().name
    if policy == "mixed_float16":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            logging.warning(
                "mixed_float16 without a GPU is slow and only useful for testing; "
                "on CPUs and TPUs use mixed_bfloat16.")
    keras.mixed_precision.set_global_policy(policy)
    return previous
