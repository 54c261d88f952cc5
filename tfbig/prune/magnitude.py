"""``tfbig.prune.magnitude``: the one entry point of weight pruning."""

from absl import logging
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_policy as policy_lib
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule as tfmot_schedule

from tfbig._backend import check_model
from tfbig._backend import is_graph_network
from tfbig._backend import keras
from tfbig.prune import _clone
from tfbig.prune import _select
from tfbig.prune import schedules
from tfbig.prune.models import PrunedModel
from tfbig.prune.models import PrunedSequential
from tfbig.prune.models import PrunedSubclassedModel
from tfbig.prune.wrapper import RANKINGS
from tfbig.prune.wrapper import PruneLowMagnitude

__all__ = ["magnitude"]


def magnitude(model, target_sparsity=None, *, schedule=None, initial_sparsity=0.0,
              begin_step=0, end_step=None, begin_epoch=None, end_epoch=None,
              frequency=None, frequency_epochs=None, steps_per_epoch=None, power=3,
              layers=None, skip=None, ranking="layer", sparsity_m_by_n=None,
              block_size=(1, 1), block_pooling_type="AVG", pruning_policy=None, log_dir=None):
    """Returns a pruned copy of ``model``, ready to compile and ``fit``.

    Magnitude pruning with tfmot's wrapper (``prune_low_magnitude``): the
    smallest weights of each selected layer are masked to zero on a schedule
    during ``fit``. ``model`` is never changed: it is copied first. Works on
    Sequential, functional (raw TF ops are left as they are), nested and
    subclassed models. The returned model's ``fit`` adds
    :class:`PruningCallback` itself; it saves and loads with no scope.

    Args:
        model: a tf_keras model, built.
        target_sparsity: final fraction of zeros in ``[0, 1)``, or a dict
            ``{layer name: sparsity}`` that also selects the layers.
            Defaults to ``None`` (required unless ``schedule`` is a schedule
            object or ``sparsity_m_by_n`` is set).
        schedule: ``"polynomial"``, ``"constant"``, a tfmot
            ``PruningSchedule``, or ``None`` (polynomial when an end is
            given, else constant). Defaults to ``None``.
        initial_sparsity: polynomial start. Defaults to 0.0.
        begin_step: first pruning step. Defaults to 0.
        end_step: step at which the target is reached. Defaults to ``None``.
        begin_epoch: first pruning epoch (instead of steps). Defaults to ``None``.
        end_epoch: the target is reached at the end of this epoch (1-based as
            ``fit`` prints it). Defaults to ``None``.
        frequency: steps between mask updates. Defaults to ``None`` (100
            steps; a quarter of an epoch with ``begin_epoch``/``end_epoch``).
        frequency_epochs: epochs between mask updates. Defaults to ``None``.
        steps_per_epoch: for epoch schedules; read from ``fit`` if omitted.
            Defaults to ``None``.
        power: polynomial exponent. Defaults to 3.
        layers: which layers to prune: names, classes, predicates
            ``layer -> bool``, or a list of them. Defaults to ``None`` (all
            prunable layers).
        skip: layers not to prune, same forms (e.g. the first and last).
            Defaults to ``None``.
        ranking: ``"layer"`` (every layer reaches the target) or
            ``"global"`` (one magnitude ranking across all selected layers;
            the overall sparsity reaches the target). Defaults to ``"layer"``.
        sparsity_m_by_n: e.g. ``(2, 4)``: 2 zeros in every 4 consecutive
            weights (rank-2 and rank-4 weights). Defaults to ``None``.
        block_size: ``(h, w)`` block sparsity for rank-2 weights.
            Defaults to ``(1, 1)``.
        block_pooling_type: ``"AVG"`` or ``"MAX"`` over a block. Defaults to ``"AVG"``.
        pruning_policy: a tfmot ``PruningPolicy`` (its ``allow_pruning``
            filters layers). Defaults to ``None``.
        log_dir: TensorBoard directory for sparsity per layer and overall.
            Defaults to ``None``.

    Returns:
        A :class:`PrunedModel`, :class:`PrunedSequential` or
        :class:`PrunedSubclassedModel`.

    Raises:
        TypeError: for a Keras 3 model or a layer that cannot be copied.
        ValueError: for a sparsity outside ``[0, 1)``, an end before the
            begin, an unknown layer name, or nothing prunable.

    Example:

    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(8, input_shape=(4,)),
    ...                       keras.layers.Dense(2)])
    >>> pruned = magnitude(m, target_sparsity=0.5, end_step=10, frequency=1)
    >>> pruned.compile("sgd", "mse")
    >>> _ = pruned.fit(keras.backend.ones((40, 4)), keras.backend.ones((40, 2)),
    ...                batch_size=4, verbose=0)
    >>> from tfbig.prune import sparsity_report
    >>> sparsity_report(pruned).overall
    0.5
    """
    check_model(model)
    if ranking not in RANKINGS:
        raise ValueError(f"`ranking` must be one of {RANKINGS}. Received: ranking={ranking!r}")
    targets = _targets(target_sparsity, schedule, sparsity_m_by_n)
    if isinstance(targets, dict) and layers is not None:
        raise ValueError(
            "A per-layer `target_sparsity` dict already selects the layers; drop `layers` "
            f"(use `skip` to leave some out). Received: layers={layers!r}"
        )
    _check_combination(ranking, targets, sparsity_m_by_n, block_size)
    if pruning_policy is not None:
        if not isinstance(pruning_policy, policy_lib.PruningPolicy):
            raise TypeError(
                "`pruning_policy` must be a tfmot `PruningPolicy`. "
                f"Received: pruning_policy={pruning_policy!r}"
            )
        pruning_policy.ensure_model_supports_pruning(model)

    def make_schedule(sparsity):
        if isinstance(schedule, tfmot_schedule.PruningSchedule):
            return schedule
        kind = schedule or ("constant" if end_step is None and end_epoch is None else "polynomial")
        common = dict(begin_step=begin_step, end_step=end_step, frequency=frequency,
                      begin_epoch=begin_epoch, end_epoch=end_epoch,
                      frequency_epochs=frequency_epochs, steps_per_epoch=steps_per_epoch)
        if kind == "polynomial":
            return schedules.PolynomialDecay(initial_sparsity, sparsity, power=power, **common)
        if kind == "constant":
            return schedules.ConstantSparsity(sparsity, **common)
        raise ValueError(
            "`schedule` must be 'polynomial', 'constant', a tfmot PruningSchedule or None. "
            f"Received: schedule={schedule!r}"
        )

    default_schedule = make_schedule(0.5 if targets is None or isinstance(targets, dict)
                                     else targets)
    selector = _select.Selector(layers if not isinstance(targets, dict) else list(targets),
                                skip, pruning_policy)

    def wrap(layer, path):
        if not selector.selects(layer, path):
            return None
        if isinstance(targets, dict):
            sched = make_schedule(targets[selector.matched_name(layer, path, targets)])
        else:
            sched = default_schedule
        return PruneLowMagnitude(layer, pruning_schedule=sched, block_size=block_size,
                                 block_pooling_type=block_pooling_type,
                                 sparsity_m_by_n=sparsity_m_by_n, ranking=ranking)

    cloner = _clone.Cloner(wrap)
    pruned = _build(model, cloner, log_dir)
    selector.check_all_used(cloner.plan)
    if not cloner.plan.pruned:
        raise ValueError(
            f"Nothing to prune in model {model.name!r}: no selected layer has prunable "
            "weights (Dense, Conv, Embedding, MultiHeadAttention, EinsumDense or a tfmot "
            f"PrunableLayer). Layers left as they are: {cloner.plan.left}. "
            f"Received: layers={layers!r}, skip={skip!r}"
        )
    logging.info("tfbig.prune: pruning %d layers: %s", len(cloner.plan.pruned),
                 ", ".join(cloner.plan.pruned))
    if cloner.plan.left:
        logging.info("tfbig.prune: left as they are: %s", cloner.plan.left)
    pruned.prune_plan = cloner.plan
    return pruned


def _targets(target_sparsity, schedule, sparsity_m_by_n):
    if isinstance(target_sparsity, dict):
        if not target_sparsity:
            raise ValueError(
                "`target_sparsity` as a dict must name at least one layer. "
                "Received: target_sparsity={}"
            )
        return {k: schedules._check_sparsity(f"target_sparsity[{k!r}]", v)  # pylint: disable=protected-access
                for k, v in target_sparsity.items()}
    if target_sparsity is None:
        if sparsity_m_by_n is None and not isinstance(schedule, tfmot_schedule.PruningSchedule):
            raise ValueError(
                "Pass `target_sparsity` (e.g. 0.8 for 80% zeros), a schedule object, or "
                "`sparsity_m_by_n`. Received: target_sparsity=None"
            )
        return None
    return schedules._check_sparsity("target_sparsity", target_sparsity)  # pylint: disable=protected-access


def _check_combination(ranking, targets, sparsity_m_by_n, block_size):
    if ranking == "global" and (isinstance(targets, dict) or sparsity_m_by_n
                                or tuple(block_size) != (1, 1)):
        raise ValueError(
            "`ranking='global'` ranks single weights across layers with one target; it "
            "does not combine with a per-layer `target_sparsity` dict, `sparsity_m_by_n` "
            f"or `block_size`. Received: ranking={ranking!r}, "
            f"sparsity_m_by_n={sparsity_m_by_n!r}, block_size={block_size!r}"
        )


def _build(model, cloner, log_dir):
    if isinstance(model, keras.Sequential):
        clone = cloner.clone(model)
        pruned = PrunedSequential(clone.layers, name=model.name, prune_log_dir=log_dir)
        if not pruned.built and model.built and getattr(model, "_build_input_shape", None):
            pruned.build(model._build_input_shape)  # pylint: disable=protected-access
    elif is_graph_network(model):
        clone = cloner.clone(model)
        pruned = PrunedModel(clone.inputs, clone.outputs, name=model.name, prune_log_dir=log_dir)
    else:
        sample = _clone.sample_inputs(model)
        if sample is None:
            raise ValueError(
                f"Subclassed model {model.name!r} has never been called, so its inputs are "
                "unknown; call it once on a batch (or `fit` it) before pruning. "
                f"Received: model={model.name!r}"
            )
        inner = cloner.clone(model)
        pruned = PrunedSubclassedModel(inner, name=model.name, prune_log_dir=log_dir)
        args, kwargs = sample
        pruned(*args, **kwargs)
    if model.built:
        _clone.copy_weights(model, pruned.inner if isinstance(pruned, PrunedSubclassedModel)
                            else pruned)
    return pruned
