"""Output distillation: the student matches the teacher's soft targets."""

import math

import tensorflow as tf

from tfbig._backend import register_serializable
from tfbig.distill import _taps
from tfbig.distill.base import DistillationLoss
from tfbig.distill.base import check_choice

__all__ = ["LogitsLoss"]

_LOSSES = ("kl", "mse")


@register_serializable()
class LogitsLoss(DistillationLoss):
    """Matches the student's logits to the teacher's (Hinton et al., 2015).

    With ``loss="kl"`` the term is
    ``T**2 * KL(softmax(teacher / T) || softmax(student / T))``, averaged over the
    batch (and any other leading axes); the ``T**2`` factor keeps its gradients
    on the scale of the hard-label loss as the temperature ``T`` changes. With
    ``loss="mse"`` it is the mean squared difference of the raw logits
    (Ba & Caruana, 2014), and ``temperature`` is not used. Both models must
    output logits (no softmax) of the same shape.

    Args:
        temperature: softening temperature ``T > 0``. Defaults to 3.0.
        loss: ``"kl"`` or ``"mse"``. Defaults to ``"kl"``.
        weight: factor of this term in the distillation objective.
            Defaults to 1.0.
        **kwargs: ``Layer`` arguments such as ``name``.

    Raises:
        ValueError: ``temperature <= 0`` or an unknown ``loss``.

    Example:

    >>> import tensorflow as tf
    >>> term = LogitsLoss(temperature=2.0)
    >>> float(term(tf.constant([[1.0, 2.0]]), tf.constant([[1.0, 2.0]])))
    0.0
    """

    teacher_tap = _taps.Tap(_taps.OUTPUT, None)
    student_tap = _taps.Tap(_taps.OUTPUT, None)

    def __init__(self, temperature=3.0, loss="kl", weight=1.0, **kwargs):
        super().__init__(weight=weight, **kwargs)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise TypeError(
                f"`temperature` must be a number. Received: temperature={temperature!r}"
            )
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(
                "`temperature` must be a finite number > 0 (1.0 leaves the logits "
                f"unchanged). Received: temperature={temperature!r}"
            )
        self.temperature = float(temperature)
        self.loss = check_choice("loss", loss, _LOSSES)

    def configure(self, teacher_shape, student_shape):
        if teacher_shape.rank is None or student_shape.rank is None or (
            not teacher_shape[1:].is_compatible_with(student_shape[1:])
        ):
            raise ValueError(
                "The teacher's and the student's logits must have the same shape "
                "(same number of classes, no softmax). Give the student the "
                "teacher's output layer width. Received: teacher output shape="
                f"{tuple(teacher_shape)}, student output shape={tuple(student_shape)}"
            )
        super().configure(teacher_shape, student_shape)

    def call(self, teacher_output, student_output):
        teacher = tf.cast(teacher_output, tf.float32)
        student = tf.cast(student_output, tf.float32)
        if self.loss == "mse":
            return tf.reduce_mean(tf.square(teacher - student))
        t = self.temperature
        teacher_log_probs = tf.nn.log_softmax(teacher / t, axis=-1)
        student_log_probs = tf.nn.log_softmax(student / t, axis=-1)
        kl = tf.reduce_sum(
            tf.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1
        )
        return tf.reduce_mean(kl) * (t * t)

    def get_config(self):
        config = super().get_config()
        config.update(temperature=self.temperature, loss=self.loss)
        return config
