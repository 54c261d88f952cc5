"""Intermediate-representation distillation: match hidden features."""

import tensorflow as tf

from tfbig._backend import keras
from tfbig._backend import register_serializable
from tfbig.distill import _taps
from tfbig.distill.base import DistillationLoss
from tfbig.distill.base import check_choice

__all__ = ["FeatureLoss"]

_LOSSES = ("mse", "cosine", "l1")
_PROJECTIONS = ("auto", "always", "never")


def _check_name(arg_name, value):
    if not isinstance(value, str) or not value:
        raise TypeError(
            f"`{arg_name}` must be a layer name (a non-empty string). "
            f"Received: {arg_name}={value!r}"
        )
    return value


@register_serializable()
class FeatureLoss(DistillationLoss):
    """Matches a named student layer's output to a named teacher layer's output.

    FitNets / TinyBERT hidden-state transfer. The two outputs must agree in every
    axis but the last (pick layers after the same pooling or flattening). When
    their widths differ, a learned linear projection (no bias) maps the student
    feature to the teacher's width; it trains with the student, is saved in the
    Distiller's checkpoints, and is not part of ``distiller.student``, so it is
    dropped once training ends. Use one ``FeatureLoss`` per layer pair.

    Args:
        teacher_layer: name of the teacher layer (searched in nested models
            and wrappers too).
        student_layer: name of the student layer.
        loss: ``"mse"`` (mean squared error), ``"cosine"`` (mean of
            ``1 - cosine similarity`` along the last axis) or ``"l1"`` (mean
            absolute error). Defaults to ``"mse"``.
        projection: ``"auto"`` (a projection only when the widths differ),
            ``"always"``, or ``"never"`` (different widths are an error).
            Defaults to ``"auto"``.
        weight: factor of this term in the distillation objective.
            Defaults to 1.0.
        **kwargs: ``Layer`` arguments such as ``name``.

    Raises:
        ValueError: an unknown ``loss`` or ``projection``; at configuration,
            shapes that cannot be matched.

    Example:

    >>> import tensorflow as tf
    >>> term = FeatureLoss("fc", "dense1", loss="l1")
    >>> float(term(tf.ones((2, 4)), tf.zeros((2, 4))))
    1.0
    """

    def __init__(
        self,
        teacher_layer,
        student_layer,
        loss="mse",
        projection="auto",
        weight=1.0,
        **kwargs,
    ):
        super().__init__(weight=weight, **kwargs)
        self.teacher_layer = _check_name("teacher_layer", teacher_layer)
        self.student_layer = _check_name("student_layer", student_layer)
        self.loss = check_choice("loss", loss, _LOSSES)
        self.projection = check_choice("projection", projection, _PROJECTIONS)
        self.projection_layer = None

    @property
    def teacher_tap(self):
        return _taps.Tap(_taps.LAYER, self.teacher_layer)

    @property
    def student_tap(self):
        return _taps.Tap(_taps.LAYER, self.student_layer)

    def configure(self, teacher_shape, student_shape):
        teacher_shape = tf.TensorShape(teacher_shape)
        student_shape = tf.TensorShape(student_shape)
        received = (
            f"Received: teacher_layer={self.teacher_layer!r} with output shape "
            f"{tuple(teacher_shape)}, student_layer={self.student_layer!r} with "
            f"output shape {tuple(student_shape)}"
        )
        if (
            teacher_shape.rank is None
            or teacher_shape.rank != student_shape.rank
            or not teacher_shape[1:-1].is_compatible_with(student_shape[1:-1])
        ):
            raise ValueError(
                "Feature matching needs two outputs that agree in every axis but "
                "the last (width); choose layers after the same pooling/flatten. "
                + received
            )
        teacher_width, student_width = teacher_shape[-1], student_shape[-1]
        if teacher_width is None or student_width is None:
            raise ValueError(
                "Feature matching needs a known last-axis width on both sides. "
                + received
            )
        needs_projection = teacher_width != student_width
        if needs_projection and self.projection == "never":
            raise ValueError(
                "The two features have different widths and `projection='never'`; "
                "pass projection='auto' to learn a projection. " + received
            )
        if needs_projection or self.projection == "always":
            self.projection_layer = keras.layers.Dense(
                teacher_width, use_bias=False, name=f"{self.name}_projection"
            )
            self.projection_layer.build(student_shape)
        super().configure(teacher_shape, student_shape)

    def call(self, teacher_output, student_output):
        student = student_output
        if self.projection_layer is not None:
            student = self.projection_layer(student)
        teacher = tf.cast(teacher_output, tf.float32)
        student = tf.cast(student, tf.float32)
        if self.loss == "mse":
            return tf.reduce_mean(tf.square(teacher - student))
        if self.loss == "l1":
            return tf.reduce_mean(tf.abs(teacher - student))
        cosine = tf.reduce_sum(
            tf.math.l2_normalize(teacher, axis=-1)
            * tf.math.l2_normalize(student, axis=-1),
            axis=-1,
        )
        return tf.reduce_mean(1.0 - cosine)

    def get_config(self):
        config = super().get_config()
        config.update(
            teacher_layer=self.teacher_layer,
            student_layer=self.student_layer,
            loss=self.loss,
            projection=self.projection,
        )
        return config
