"""Pruning schedules in steps or epochs, built on tfmot's ``PruningSchedule``.

tfmot's schedules count only steps, and a ``PolynomialDecay`` whose
``end_step - begin_step`` is not a multiple of ``frequency`` never prunes at
``end_step``, so the target is silently missed. tfbig's schedules are tfmot
``PruningSchedule`` subclasses (usable anywhere tfmot takes one) that:

- take ``begin_epoch`` / ``end_epoch`` / ``frequency_epochs`` as an
  alternative to steps; the steps per epoch come from ``steps_per_epoch`` or,
  when omitted, from the first ``fit`` of a tfbig pruned model;
- always prune at ``end_step``, so the target sparsity is reached there.
"""

import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule

from tfbig._backend import register_serializable

__all__ = ["ConstantSparsity", "PolynomialDecay"]


def _check_sparsity(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"`{name}` must be a number in [0, 1): 0.8 means 80% of the weights "
            f"become zero. Received: {name}={value!r}"
        )
    return float(value)


class _StepsOrEpochs(pruning_schedule.PruningSchedule):
    """Resolves begin/end/frequency from steps or epochs (shared by both schedules)."""

    def _init_range(self, begin_step, end_step, frequency, begin_epoch, end_epoch,
                    frequency_epochs, steps_per_epoch, end_required):
        epochs = begin_epoch is not None or end_epoch is not None or frequency_epochs is not None
        if epochs and (begin_step not in (None, 0) or end_step is not None):
            raise ValueError(
                "Give the pruning range in steps (`begin_step`/`end_step`) or in epochs "
                "(`begin_epoch`/`end_epoch`), not both. Received: "
                f"begin_step={begin_step}, end_step={end_step}, "
                f"begin_epoch={begin_epoch}, end_epoch={end_epoch}"
            )
        self.unit = "epoch" if epochs else "step"
        if epochs:
            begin, end = (0 if begin_epoch is None else begin_epoch), end_epoch
        else:
            begin, end = (0 if begin_step is None else begin_step), end_step
        if end is None and end_required:
            raise ValueError(
                f"A polynomial schedule needs an end: pass `end_{self.unit}` (the "
                f"{self.unit} at which the target sparsity is reached). "
                f"Received: end_{self.unit}=None"
            )
        if not isinstance(begin, (int, float)) or begin < 0:
            raise ValueError(
                f"`begin_{self.unit}` must be >= 0. Received: begin_{self.unit}={begin!r}"
            )
        if end is not None and end < begin:
            raise ValueError(
                f"`end_{self.unit}` must not come before `begin_{self.unit}`. "
                f"Received: begin_{self.unit}={begin}, end_{self.unit}={end}"
            )
        if frequency is not None and (not isinstance(frequency, int) or frequency < 1):
            raise ValueError(
                f"`frequency` must be a positive number of steps. Received: frequency={frequency!r}"
            )
        if frequency_epochs is not None and not frequency_epochs > 0:
            raise ValueError(
                "`frequency_epochs` must be > 0. "
                f"Received: frequency_epochs={frequency_epochs!r}"
            )
        if steps_per_epoch is not None and (not isinstance(steps_per_epoch, int) or steps_per_epoch < 1):
            raise ValueError(
                "`steps_per_epoch` must be a positive integer. "
                f"Received: steps_per_epoch={steps_per_epoch!r}"
            )
        self.begin, self.end = begin, end
        self.step_frequency = frequency
        self.frequency_epochs = frequency_epochs
        self.steps_per_epoch = steps_per_epoch

    @property
    def needs_steps_per_epoch(self):
        """Whether the schedule is in epochs and ``steps_per_epoch`` is still unknown."""
        return self.unit == "epoch" and self.steps_per_epoch is None

    def _to_step(self, value):
        if self.unit == "step" or value is None:
            return value
        if self.steps_per_epoch is None:
            raise ValueError(
                "This pruning schedule is in epochs but the number of steps per epoch "
                "is unknown. Train with `fit` on a model returned by "
                "`tfbig.prune.magnitude` (it is read from `fit`), or pass "
                "`steps_per_epoch=`. Received: steps_per_epoch=None"
            )
        return int(round(value * self.steps_per_epoch))

    @property
    def begin_step(self):
        return self._to_step(self.begin)

    @property
    def end_step(self):
        end = self._to_step(self.end)
        return -1 if end is None else end

    @property
    def frequency(self):
        if self.frequency_epochs is not None:
            return max(1, self._to_step(self.frequency_epochs))
        if self.step_frequency is not None:
            return self.step_frequency
        if self.unit == "epoch":  # 4 mask updates per epoch
            return max(1, self._to_step(0.25))
        return 100  # tfmot's default

    def _should_prune_in_step(self, step, begin_step, end_step, frequency):
        regular = super()._should_prune_in_step(step, begin_step, end_step, frequency)
        if end_step < 0:
            return regular
        return tf.math.logical_or(regular, tf.math.equal(step, end_step))

    def _range_config(self):
        config = {"frequency": self.step_frequency, "steps_per_epoch": self.steps_per_epoch}
        if self.unit == "epoch":
            config.update(begin_epoch=self.begin, end_epoch=self.end,
                          frequency_epochs=self.frequency_epochs)
        else:
            config.update(begin_step=self.begin, end_step=self.end)
        return config

    def get_config(self):
        return {"class_name": f"tfbig>{type(self).__name__}", "config": self._config()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@register_serializable()
class PolynomialDecay(_StepsOrEpochs, pruning_schedule.PolynomialDecay):
    """Sparsity grows from ``initial_sparsity`` to ``final_sparsity`` (cubic by default).

    The tfmot ``PolynomialDecay`` curve, with the range in steps or epochs,
    and a mask update guaranteed at the end of the range.

    Args:
        initial_sparsity: sparsity when pruning begins. Defaults to 0.0.
        final_sparsity: sparsity reached at the end. Defaults to 0.5.
        begin_step: step at which pruning begins. Defaults to 0.
        end_step: step at which ``final_sparsity`` is reached. Defaults to
            ``None`` (then ``end_epoch`` is required).
        power: exponent of the curve. Defaults to 3.
        frequency: steps between mask updates. Defaults to ``None`` (100
            steps; a quarter of an epoch for a schedule in epochs).
        begin_epoch: epoch (0-based, as ``fit``'s ``initial_epoch``) at which
            pruning begins. Defaults to ``None``.
        end_epoch: number of epochs after which ``final_sparsity`` is reached
            (the last step of epoch ``end_epoch`` as ``fit`` prints it).
            Defaults to ``None``.
        frequency_epochs: epochs between mask updates (may be fractional);
            overrides ``frequency``. Defaults to ``None``.
        steps_per_epoch: steps in one epoch; read from ``fit`` when omitted.
            Defaults to ``None``.

    Example:

    >>> s = PolynomialDecay(final_sparsity=0.8, begin_epoch=0, end_epoch=2,
    ...                     steps_per_epoch=10)
    >>> s.begin_step, s.end_step, [round(float(s(step)[1]), 3) for step in (0, 10, 20)]
    (0, 20, [0.0, 0.7, 0.8])
    """

    def __init__(self, initial_sparsity=0.0, final_sparsity=0.5, begin_step=0, end_step=None,
                 power=3, frequency=None, begin_epoch=None, end_epoch=None,
                 frequency_epochs=None, steps_per_epoch=None):
        self.initial_sparsity = _check_sparsity("initial_sparsity", initial_sparsity)
        self.final_sparsity = _check_sparsity("final_sparsity", final_sparsity)
        self.power = power
        self._init_range(begin_step, end_step, frequency, begin_epoch, end_epoch,
                         frequency_epochs, steps_per_epoch, end_required=True)

    @property
    def target_sparsity(self):
        return self.final_sparsity

    def __call__(self, step):
        if self.end_step == self.begin_step:  # a one-step ramp: avoid dividing by zero
            return (self._should_prune_in_step(step, self.begin_step, self.end_step,
                                               self.frequency),
                    tf.constant(self.final_sparsity, tf.float32))
        return super().__call__(step)

    def _config(self):
        return dict(self._range_config(), initial_sparsity=self.initial_sparsity,
                    final_sparsity=self.final_sparsity, power=self.power)


@register_serializable()
class ConstantSparsity(_StepsOrEpochs, pruning_schedule.ConstantSparsity):
    """Prunes to one sparsity at every update in ``[begin, end]`` (end open if omitted).

    Args:
        target_sparsity: the sparsity applied. Defaults to 0.5.
        begin_step: step at which pruning begins. Defaults to 0.
        end_step: last step with a mask update. Defaults to ``None`` (no end).
        frequency: steps between mask updates. Defaults to ``None`` (100
            steps; a quarter of an epoch for a schedule in epochs).
        begin_epoch: epoch at which pruning begins. Defaults to ``None``.
        end_epoch: epochs after which mask updates stop. Defaults to ``None``.
        frequency_epochs: epochs between mask updates; overrides
            ``frequency``. Defaults to ``None``.
        steps_per_epoch: steps in one epoch; read from ``fit`` when omitted.
            Defaults to ``None``.

    Example:

    >>> s = ConstantSparsity(0.5, begin_step=4, frequency=2)
    >>> [bool(s(step)[0]) for step in (3, 4, 5, 6)]
    [False, True, False, True]
    """

    def __init__(self, target_sparsity=0.5, begin_step=0, end_step=None, frequency=None,
                 begin_epoch=None, end_epoch=None, frequency_epochs=None, steps_per_epoch=None):
        self.target_sparsity = _check_sparsity("target_sparsity", target_sparsity)
        self._init_range(begin_step, end_step, frequency, begin_epoch, end_epoch,
                         frequency_epochs, steps_per_epoch, end_required=False)

    def _config(self):
        return dict(self._range_config(), target_sparsity=self.target_sparsity)


def final_sparsity(schedule):
    """The sparsity a schedule ends at (tfmot's or tfbig's), or ``None`` if unknown."""
    for attr in ("final_sparsity", "target_sparsity"):
        value = getattr(schedule, attr, None)
        if value is not None:
            return float(value)
    return None
