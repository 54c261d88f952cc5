"""The base class of every distillation loss."""

import math

from tfbig._backend import keras

__all__ = ["DistillationLoss"]


def check_weight(weight):
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise TypeError(f"`weight` must be a number. Received: weight={weight!r}")
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(
            f"`weight` must be a finite number >= 0. Received: weight={weight!r}"
        )
    return float(weight)


def check_choice(arg_name, value, choices):
    if value not in choices:
        raise ValueError(
            f"`{arg_name}` must be one of {choices}. Received: {arg_name}={value!r}"
        )
    return value


class DistillationLoss(keras.layers.Layer):
    """Base class: one term of a :class:`~tfbig.distill.Distiller`'s objective.

    A distillation loss says which values it reads from the teacher and the
    student (:attr:`teacher_tap`, :attr:`student_tap`: ``("output", None)`` for
    the model output, ``("layer", name)`` for a layer's output, ``("attention",
    name)`` for a MultiHeadAttention layer's attention probabilities) and maps
    the two values to a scalar in :meth:`call`. It is a Keras ``Layer`` so that any learned part
    (the projection of :class:`~tfbig.distill.FeatureLoss`) is tracked, trained,
    checkpointed and saved with the Distiller, while ``distiller.student`` stays
    free of it. Subclasses implement ``teacher_tap``, ``student_tap``, ``call``
    and ``get_config``, and may override :meth:`configure`.

    Args:
        weight: the factor of this term in the distillation objective.
            Defaults to 1.0.
        **kwargs: ``Layer`` arguments such as ``name``.

    Example:

    >>> import tensorflow as tf
    >>> class MeanGap(DistillationLoss):  # |mean(teacher) - mean(student)|
    ...     teacher_tap = student_tap = ("output", None)
    ...     def call(self, teacher_output, student_output):
    ...         return tf.abs(tf.reduce_mean(teacher_output) - tf.reduce_mean(student_output))
    >>> float(MeanGap()(tf.ones((2, 3)), tf.zeros((2, 3))))
    1.0
    """

    teacher_tap = None
    student_tap = None

    def __init__(self, weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.weight = check_weight(weight)
        self._configured = False

    def build(self, input_shape):
        # Shapes of both sides are known only to `configure`; nothing to do here.
        self.built = True

    def configure(self, teacher_shape, student_shape):
        """Checks the two values' static shapes and creates any weights.

        Called once by the Distiller (eagerly, before training) or on the first
        call. The default checks nothing.

        Args:
            teacher_shape: ``tf.TensorShape`` of the teacher value.
            student_shape: ``tf.TensorShape`` of the student value.

        Raises:
            ValueError: the shapes cannot be matched.
        """
        self._configured = True

    def __call__(self, teacher_output, student_output, **kwargs):
        if not self._configured:
            self.configure(teacher_output.shape, student_output.shape)
            self._configured = True
        return super().__call__(teacher_output, student_output, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["weight"] = self.weight
        return config
