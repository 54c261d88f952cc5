"""The Distiller: a Keras model that trains a student from a teacher in ``fit``."""

import math

import tensorflow as tf

from tfbig._backend import check_model
from tfbig._backend import keras
from tfbig._backend import register_serializable
from tfbig.distill import _partners
from tfbig.distill import _taps
from tfbig.distill.base import DistillationLoss

__all__ = ["Distiller"]

INPUTS_KEY = "tfbig_inputs"
TEACHER_OUTPUTS_KEY = "tfbig_teacher_outputs"


class _Plan:
    """Which values each side must expose, and which loss reads which value.

    A plain object on purpose: Keras does not track it, so the layers it
    references are saved once (through the teacher and student), not twice.
    """

    def __init__(self, teacher, student, losses):
        self.teacher_taps, self.teacher_index = self._dedupe(
            [_taps.Tap(*loss.teacher_tap) for loss in losses]
        )
        self.student_taps, self.student_index = self._dedupe(
            [_taps.Tap(*loss.student_tap) for loss in losses]
        )
        self.teacher_layers = _taps.resolve(teacher, self.teacher_taps, "teacher")
        self.student_layers = _taps.resolve(student, self.student_taps, "student")
        for taps, layers, role in (
            (self.teacher_taps, self.teacher_layers, "teacher"),
            (self.student_taps, self.student_layers, "student"),
        ):
            for tap, layer in zip(taps, layers):
                if tap.kind == _taps.ATTENTION:
                    _taps.check_attention_layer(layer, role, f"{role}_layer")

    @staticmethod
    def _dedupe(taps):
        unique = list(dict.fromkeys(taps))
        return unique, [unique.index(tap) for tap in taps]


def _check_losses(distillation_losses):
    if isinstance(distillation_losses, DistillationLoss):
        distillation_losses = [distillation_losses]
    if not isinstance(distillation_losses, (list, tuple)) or not distillation_losses:
        raise ValueError(
            "`distillation_losses` must be a non-empty list of tfbig.distill losses "
            "(LogitsLoss, FeatureLoss, AttentionLoss). "
            f"Received: distillation_losses={distillation_losses!r}"
        )
    for loss in distillation_losses:
        if not isinstance(loss, DistillationLoss):
            raise TypeError(
                "Each entry of `distillation_losses` must be a "
                "tfbig.distill.DistillationLoss such as LogitsLoss(temperature=4.0). "
                f"Received: distillation_losses entry {loss!r}"
            )
    if len({id(loss) for loss in distillation_losses}) != len(distillation_losses):
        raise ValueError(
            "`distillation_losses` lists the same loss object twice; create one "
            f"object per term. Received: distillation_losses={distillation_losses!r}"
        )
    return list(distillation_losses)


def _check_alpha(alpha):
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"`alpha` must be a number in [0, 1]. Received: alpha={alpha!r}")
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise ValueError(
            "`alpha` weighs the student's own loss against distillation and must "
            f"be in [0, 1]. Received: alpha={alpha!r}"
        )
    return float(alpha)


def _as_spec(shape):
    """TensorSpec(s) for a build shape: a shape, or a list/dict of shapes."""
    if isinstance(shape, dict):
        return {k: _as_spec(v) for k, v in shape.items()}
    if isinstance(shape, tf.TensorShape) or all(
        d is None or isinstance(d, int) for d in shape
    ):
        return tf.TensorSpec(tf.TensorShape(shape), tf.float32)
    return [_as_spec(s) for s in shape]


def _example_inputs(model):
    """A batch of 2 zeros shaped like ``model``'s inputs (unknown dims -> 1)."""
    spec = model.save_spec(dynamic_batch=True)
    if spec is not None and spec[0]:
        structure = spec[0][0]
    elif getattr(model, "_build_input_shape", None) is not None:
        structure = _as_spec(model._build_input_shape)
    else:
        raise ValueError(
            f"Cannot tell the input shape of the teacher {model.name!r}. Call it once "
            "on a batch of data (or build it with `model.build(input_shape)`) before "
            f"making the Distiller. Received: teacher={model.name!r}"
        )

    def zeros(s):
        shape = [2] + [1 if d is None else d for d in s.shape.as_list()[1:]]
        return tf.zeros(shape, s.dtype)

    return tf.nest.map_structure(zeros, structure)


def split_cached(inputs):
    """``(model inputs, cached teacher values or None)`` of a batch's ``x``."""
    if isinstance(inputs, dict) and set(inputs) == {INPUTS_KEY, TEACHER_OUTPUTS_KEY}:
        return inputs[INPUTS_KEY], list(inputs[TEACHER_OUTPUTS_KEY])
    return inputs, None


@register_serializable()
class Distiller(keras.Model):
    """Trains a student model from a frozen teacher inside ``model.fit``.

    The training objective is ``alpha * student_loss + (1 - alpha) *
    sum(w_i * distillation_loss_i)`` (plus the student's regularization losses),
    where ``student_loss`` is the loss given to :meth:`compile` on the true labels
    and each distillation loss compares a teacher value with a student value
    (logits, a layer's output, attention maps). The teacher runs in inference mode
    and only the student (and any learned feature projection) is updated; the
    teacher object is not modified. After training take ``distiller.student``
    to save, prune, quantize or export it.

    ``fit`` and ``evaluate`` log ``loss`` (the whole objective), ``student_loss``
    (the compiled loss on the labels), ``distillation_loss`` (the weighted sum of
    the distillation terms) and the compiled metrics of the student's
    predictions; ``evaluate`` runs the teacher in inference mode too (or reads
    cached teacher outputs) so that ``val_loss`` is comparable to ``loss``.
    ``predict`` and ``__call__`` run the student alone.

    Build it (and compile it) inside ``strategy.scope()`` to train under a
    distribution strategy. The student may be pruned (``tfbig.prune.magnitude``;
    ``fit`` adds its ``PruningCallback``) or quantization-aware
    (``tfbig.quantize.qat``); layer names reach inside their wrappers.

    Args:
        teacher: a built tf_keras model (Sequential, functional or subclassed)
            with the same input as the student.
        student: a tf_keras model; built here if needed.
        distillation_losses: a :class:`DistillationLoss` or a list of them
            (each carries its own ``weight``).
        alpha: weight of the student's own loss; ``1 - alpha`` weighs the
            distillation losses. Defaults to 0.1.
        **kwargs: ``keras.Model`` arguments such as ``name``.

    Raises:
        TypeError: a model that is not a tf_keras model (e.g. Keras 3).
        ValueError: an unbuilt teacher, unknown layer names, shapes the losses
            cannot match (e.g. logits of different shapes), ``alpha`` outside
            ``[0, 1]``.

    Example:

    >>> from tfbig import keras
    >>> from tfbig.distill import Distiller, LogitsLoss
    >>> from tfbig.models import mlp
    >>> distiller = Distiller(teacher=mlp(hidden=(32,)), student=mlp(hidden=(8,)),
    ...                       distillation_losses=[LogitsLoss(temperature=4.0)], alpha=0.1)
    >>> distiller.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...                   metrics=["accuracy"])
    >>> distiller.student.name
    'mlp'
    """

    def __init__(self, teacher, student, distillation_losses, alpha=0.1, **kwargs):
        kwargs.setdefault("name", "distiller")
        super().__init__(**kwargs)
        check_model(teacher, "teacher")
        check_model(student, "student")
        if teacher is student:
            raise ValueError(
                "`teacher` and `student` must be two different models. "
                f"Received: teacher=student={teacher.name!r}"
            )
        if not teacher.built:
            raise ValueError(
                f"The teacher {teacher.name!r} is not built (it has no weights yet), "
                "so it cannot have been trained. Train it, or load it, or at least "
                "call it on a batch before distilling from it. "
                f"Received: teacher={teacher.name!r} with built=False"
            )
        self.teacher = teacher
        self.student = student
        self.distillation_losses = _check_losses(distillation_losses)
        self.alpha = _check_alpha(alpha)
        self._plan = _Plan(teacher, student, self.distillation_losses)
        self._configure()
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")

    def _configure(self):
        """Runs both models once on zeros: checks names/shapes, makes projections."""
        example = _example_inputs(self.teacher)
        teacher_values = self.teacher_outputs(example)
        _, student_values = self._student_forward(example, training=False)
        for loss, t_index, s_index in self._loss_slots():
            teacher_value, student_value = teacher_values[t_index], student_values[s_index]
            loss.configure(teacher_value.shape, student_value.shape)
            loss(teacher_value, student_value)
        self.built = True

    def _loss_slots(self):
        return zip(
            self.distillation_losses, self._plan.teacher_index, self._plan.student_index
        )

    def teacher_outputs(self, inputs):
        """The teacher values the distillation losses read, in inference mode.

        Args:
            inputs: a batch of model inputs.

        Returns:
            A list of tensors, one per distinct teacher value (the order used by
            :func:`~tfbig.distill.cache_teacher_outputs`).
        """
        plan = self._plan
        _, values = _taps.forward(
            self.teacher, inputs, plan.teacher_taps, plan.teacher_layers, False, "teacher"
        )
        return [tf.stop_gradient(v) for v in values]

    def _student_forward(self, inputs, training):
        plan = self._plan
        return _taps.forward(
            self.student, inputs, plan.student_taps, plan.student_layers, training, "student"
        )

    @property
    def trainable_weights(self):
        """The student's and the losses' trainable weights; never the teacher's."""
        if not self.trainable:
            return []
        weights = list(self.student.trainable_weights)
        for loss in self.distillation_losses:
            weights += loss.trainable_weights
        return self._dedup_weights(weights)

    @property
    def non_trainable_weights(self):
        """Every other weight, the whole teacher included."""
        trainable = {id(w) for w in self.trainable_weights}
        weights = self.teacher.weights + self.student.weights
        for loss in self.distillation_losses:
            weights += loss.weights
        return [w for w in self._dedup_weights(weights) if id(w) not in trainable]

    @property
    def weights(self):
        """Trainable then non-trainable weights (no metric state)."""
        return self.trainable_weights + self.non_trainable_weights

    def fit(self, *args, callbacks=None, **kwargs):
        """``keras.Model.fit``, plus the callbacks a pruned student needs.

        A student pruned with ``tfbig.prune.magnitude`` gets its
        ``PruningCallback`` (one from tfmot's ``prune_low_magnitude`` gets
        ``UpdatePruningStep``) unless ``callbacks`` already holds one, just as
        the student's own ``fit`` would add it.
        """
        callbacks = list(callbacks or [])
        callbacks += _partners.partner_callbacks(self.student, callbacks)
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def call(self, inputs, training=None):
        inputs, _ = split_cached(inputs)
        return self.student(inputs, training=training)

    def _distillation_loss(self, teacher_values, student_values):
        terms = [
            loss.weight * loss(teacher_values[t], student_values[s])
            for loss, t, s in self._loss_slots()
        ]
        return tf.add_n(terms)

    def _teacher_values(self, x):
        x, teacher_values = split_cached(x)
        if teacher_values is None:
            return x, self.teacher_outputs(x)
        if len(teacher_values) != len(self._plan.teacher_taps):
            raise ValueError(
                f"The cached batch holds {len(teacher_values)} teacher values but this "
                f"Distiller's losses read {len(self._plan.teacher_taps)}; cache with "
                "`cache_teacher_outputs(distiller, ...)` using this very Distiller. "
                f"Received: {len(teacher_values)} cached teacher values"
            )
        return x, teacher_values

    def _objective(self, data, training):
        """Forward pass and losses; the total is scaled for the all-reduce."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x, teacher_values = self._teacher_values(x)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        y_pred, student_values = self._student_forward(x, training=training)
        student_loss = self.compiled_loss(y, y_pred, sample_weight)  # already / replicas
        if student_loss is None:
            if self.alpha > 0:
                raise ValueError(
                    "`alpha` weighs the student's own loss, but there is none: compile "
                    "the Distiller with `loss=` and give labels to `fit`, or pass "
                    f"alpha=0 for pure distillation. Received: alpha={self.alpha}"
                )
            student_loss = tf.constant(0.0)
        distillation_loss = self._distillation_loss(teacher_values, student_values)
        regularization = tf.add_n(self.student.losses) if self.student.losses else 0.0
        scaled_total = self.alpha * student_loss + (
            (1.0 - self.alpha) * distillation_loss + regularization
        ) / replicas
        self.compiled_metrics.update_state(y, y_pred, sample_weight)
        batch = tf.cast(tf.shape(tf.nest.flatten(y_pred)[0])[0], tf.float32)
        self.loss_tracker.update_state(scaled_total * replicas, sample_weight=batch)
        self.student_loss_tracker.update_state(student_loss * replicas, sample_weight=batch)
        self.distillation_loss_tracker.update_state(distillation_loss, sample_weight=batch)
        return scaled_total

    def train_step(self, data):
        with tf.GradientTape() as tape:
            scaled_total = self._objective(data, training=True)
        self.optimizer.minimize(scaled_total, self.trainable_variables, tape=tape)
        return self.get_metrics_result()

    def test_step(self, data):
        self._objective(data, training=False)
        return self.get_metrics_result()

    @property
    def metrics(self):
        """``loss`` (the objective), ``student_loss``, ``distillation_loss``, then
        the compiled metrics (computed on the student's predictions)."""
        metrics = [self.loss_tracker, self.student_loss_tracker, self.distillation_loss_tracker]
        compiled = getattr(self, "compiled_metrics", None)
        if compiled is not None:
            metrics += compiled.metrics
        return metrics

    def get_config(self):
        return {
            "name": self.name,
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "student": keras.saving.serialize_keras_object(self.student),
            "distillation_losses": [
                keras.saving.serialize_keras_object(loss)
                for loss in self.distillation_losses
            ],
            "alpha": self.alpha,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("teacher", "student"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        config["distillation_losses"] = [
            keras.saving.deserialize_keras_object(loss)
            for loss in config["distillation_losses"]
        ]
        return cls(**config)
