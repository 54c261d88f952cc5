"""Gradual structured pruning inside ``fit``: whole channels pushed to zero."""

import numpy as np
import tensorflow as tf
from absl import logging

from tfbig._backend import check_model
from tfbig._backend import is_graph_network
from tfbig._backend import keras
from tfbig.prune.structured import _plan


def _zero_all(masks):
    for variable, mask in masks:
        variable.assign(variable * mask)


class GradualStructuredPruning(keras.callbacks.Callback):
    """Zeros whole channels on a schedule during ``fit``, then removes them.

    Every ``frequency`` steps between ``begin_step`` and ``end_step`` it plans
    structured pruning at the current ratio (rising as
    ``ratio * (1 - (1 - progress)**3)``, tfmot's polynomial schedule) and
    zeros the planned channels' weights, BatchNorm gammas/betas and head
    projections; after every batch it zeros them again, so training adapts
    to their absence. Channels already at zero score lowest, so the removed
    set grows. After ``fit``, :meth:`prune_model` removes them for real (the
    outputs do not change). It needs no other callback; put it anywhere in
    the list.

    With distillation, fit the ``Distiller`` and pass the student as
    ``model=`` (by default the model being fit is pruned).

    Args:
        ratio: final fraction of channels to remove, in [0, 1).
            Defaults to 0.5.
        begin_step: optimizer step of the first zeroing. Defaults to 0.
        end_step: optimizer step at which ``ratio`` is reached.
            Defaults to 1000.
        frequency: steps between two re-plans. Defaults to 100.
        model: the model to prune, if not the one being fit (a distiller's
            student). Defaults to ``None``.
        **plan_kwargs: other arguments of ``tfbig.prune.structured.plan``
            (``importance``, ``round_to``, ``global_ranking``, ``ignore``...).

    Example:

    >>> import numpy as np
    >>> from tfbig.models import mlp
    >>> m = mlp(hidden=(16,), dropout=0.0)
    >>> m.compile("sgd", "mse")
    >>> cb = GradualStructuredPruning(ratio=0.5, end_step=2, frequency=1)
    >>> _ = m.fit(np.ones((8, 8, 8, 1)), np.ones((8, 10)), batch_size=4,
    ...           epochs=1, verbose=0, callbacks=[cb])
    >>> cb.prune_model().get_layer("dense1").units
    8
    """

    def __init__(self, ratio=0.5, begin_step=0, end_step=1000, frequency=100, model=None,
                 **plan_kwargs):
        super().__init__()
        _plan._validate(ratio, plan_kwargs.get("importance", "l1"), plan_kwargs.get("round_to", 1),
                        plan_kwargs.get("layer_ratios"), plan_kwargs.get("on_unsupported", "raise"),
                        plan_kwargs.get("block_ratio", 0.0))
        for name, value in (("begin_step", begin_step), ("end_step", end_step)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative int. Received: {name}={value!r}")
        if end_step <= begin_step:
            raise ValueError("`end_step` must be greater than `begin_step`. "
                             f"Received: begin_step={begin_step}, end_step={end_step}")
        if not isinstance(frequency, int) or frequency < 1:
            raise ValueError(
                f"`frequency` must be a positive int. Received: frequency={frequency!r}")
        if model is not None:
            check_model(model, allow_subclassed=False)
        self.ratio = ratio
        self.begin_step = begin_step
        self.end_step = end_step
        self.frequency = frequency
        self.target = model
        self.plan_kwargs = plan_kwargs
        self.plan = None
        self._masks = []
        self._zero = None

    def ratio_at(self, step):
        """The scheduled ratio at optimizer step ``step``."""
        progress = np.clip((step - self.begin_step) / (self.end_step - self.begin_step), 0.0, 1.0)
        if step < self.begin_step:
            return 0.0
        return float(self.ratio * (1.0 - (1.0 - progress) ** 3))

    def on_train_begin(self, logs=None):
        self._masks = []
        self.plan = None
        model = self._pruned()
        if self.target is None and not is_graph_network(model):
            raise TypeError(
                f"GradualStructuredPruning prunes a Sequential or functional model, but the "
                f"model being fit, {model.name!r} ({type(model).__name__}), is subclassed. "
                "When fitting a Distiller (or another wrapper), pass the model to prune: "
                f"GradualStructuredPruning(..., model=student). Received: model={model.name!r}"
            )
        check_model(model, allow_subclassed=False)

    def _pruned(self):
        return self.target if self.target is not None else self.model

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        due = (step - self.begin_step) % self.frequency == 0 or step == self.end_step
        if self.begin_step <= step <= self.end_step and due:
            ratio = self.ratio_at(step)
            self.plan = _plan.plan(self._pruned(), ratio=ratio, **self.plan_kwargs)
            self._masks = [(v, tf.constant(m, dtype=v.dtype)) for v, m in self.plan.zero_masks()]
            self._zero = tf.function(_zero_all)
            logging.info("structured pruning step %d: ratio %.3f", step, ratio)
        if self._masks:
            self._zero(self._masks)

    def prune_model(self):
        """Removes the zeroed channels: returns a NEW, smaller model.

        Raises:
            ValueError: if no pruning step has run yet (``fit`` not called or
                ended before ``begin_step``).
        """
        if self.plan is None:
            raise ValueError("No structured pruning step has run: call `fit` with this "
                             f"callback past begin_step={self.begin_step} first. "
                             "Received: plan=None")
        return self.plan.apply()
