"""Attention transfer: match MultiHeadAttention probability maps (TinyBERT)."""

import tensorflow as tf

from tfbig._backend import register_serializable
from tfbig.distill import _taps
from tfbig.distill.base import DistillationLoss
from tfbig.distill.base import check_choice
from tfbig.distill.features import _check_name

__all__ = ["AttentionLoss"]

_LOSSES = ("mse", "kl")
_HEADS = ("auto", "mean")
_EPSILON = 1e-7


def _group_heads(scores, groups):
    """Averages consecutive heads of ``(batch, heads, ...)`` into ``groups``."""
    shape = tf.shape(scores)
    heads = scores.shape[1]
    grouped = tf.reshape(
        scores, tf.concat([[shape[0], groups, heads // groups], shape[2:]], axis=0)
    )
    return tf.reduce_mean(grouped, axis=2)


@register_serializable()
class AttentionLoss(DistillationLoss):
    """Matches the attention maps of two ``MultiHeadAttention`` layers (TinyBERT).

    Reads the attention probabilities (after softmax, before dropout) of a named
    teacher and a named student ``MultiHeadAttention`` layer, shaped
    ``(batch, heads, queries, keys)``, even when the models call the layers
    without ``return_attention_scores``. Query and key lengths must agree. When
    the head counts differ, ``heads="auto"`` averages consecutive groups of the
    larger count down to the smaller one if it divides it (8 teacher heads ->
    2 student heads: mean of heads 0-3 and of heads 4-7), else averages all
    heads on both sides; ``heads="mean"`` always averages all heads.

    Args:
        teacher_layer: name of the teacher ``MultiHeadAttention`` layer.
        student_layer: name of the student ``MultiHeadAttention`` layer.
        loss: ``"mse"`` between probabilities (TinyBERT) or ``"kl"``, the
            teacher-to-student KL divergence over keys (MiniLM).
            Defaults to ``"mse"``.
        heads: ``"auto"`` or ``"mean"``, see above. Defaults to ``"auto"``.
        weight: factor of this term in the distillation objective.
            Defaults to 1.0.
        **kwargs: ``Layer`` arguments such as ``name``.

    Raises:
        ValueError: an unknown ``loss`` or ``heads``; at configuration, layers
            that are not ``MultiHeadAttention`` or maps of different lengths.

    Example:

    >>> import tensorflow as tf
    >>> term = AttentionLoss("block1_mha", "block1_mha")
    >>> uniform = tf.fill((1, 4, 3, 3), 1 / 3)  # 4 teacher heads
    >>> float(term(uniform, tf.fill((1, 2, 3, 3), 1 / 3)))  # 2 student heads
    0.0
    """

    def __init__(
        self, teacher_layer, student_layer, loss="mse", heads="auto", weight=1.0, **kwargs
    ):
        super().__init__(weight=weight, **kwargs)
        self.teacher_layer = _check_name("teacher_layer", teacher_layer)
        self.student_layer = _check_name("student_layer", student_layer)
        self.loss = check_choice("loss", loss, _LOSSES)
        self.heads = check_choice("heads", heads, _HEADS)

    @property
    def teacher_tap(self):
        return _taps.Tap(_taps.ATTENTION, self.teacher_layer)

    @property
    def student_tap(self):
        return _taps.Tap(_taps.ATTENTION, self.student_layer)

    def configure(self, teacher_shape, student_shape):
        teacher_shape = tf.TensorShape(teacher_shape)
        student_shape = tf.TensorShape(student_shape)
        if (
            teacher_shape.rank is None
            or teacher_shape.rank != student_shape.rank
            or teacher_shape.rank < 3
            or not teacher_shape[2:].is_compatible_with(student_shape[2:])
            or teacher_shape[1] is None
            or student_shape[1] is None
        ):
            raise ValueError(
                "Attention transfer needs maps (batch, heads, queries, keys) with the "
                "same query and key lengths and known head counts; feed both models "
                "sequences of the same length. Received: teacher_layer="
                f"{self.teacher_layer!r} with attention shape {tuple(teacher_shape)}, "
                f"student_layer={self.student_layer!r} with attention shape "
                f"{tuple(student_shape)}"
            )
        super().configure(teacher_shape, student_shape)

    def _match_heads(self, teacher, student):
        t_heads, s_heads = teacher.shape[1], student.shape[1]
        if self.heads == "auto" and t_heads == s_heads:
            return teacher, student
        if self.heads == "auto" and max(t_heads, s_heads) % min(t_heads, s_heads) == 0:
            groups = min(t_heads, s_heads)
            if t_heads > groups:
                teacher = _group_heads(teacher, groups)
            if s_heads > groups:
                student = _group_heads(student, groups)
            return teacher, student
        return (
            tf.reduce_mean(teacher, axis=1, keepdims=True),
            tf.reduce_mean(student, axis=1, keepdims=True),
        )

    def call(self, teacher_output, student_output):
        teacher = tf.cast(teacher_output, tf.float32)
        student = tf.cast(student_output, tf.float32)
        teacher, student = self._match_heads(teacher, student)
        if self.loss == "mse":
            return tf.reduce_mean(tf.square(teacher - student))
        kl = tf.reduce_sum(
            teacher
            * (tf.math.log(teacher + _EPSILON) - tf.math.log(student + _EPSILON)),
            axis=-1,
        )
        return tf.reduce_mean(kl)

    def get_config(self):
        config = super().get_config()
        config.update(
            teacher_layer=self.teacher_layer,
            student_layer=self.student_layer,
            loss=self.loss,
            heads=self.heads,
        )
        return config
