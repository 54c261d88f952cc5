"""The whole story in one call: teacher -> distilled -> structured -> pruned -> QAT -> files -> report.

:func:`run_pipeline` composes tfbig's public functions exactly as a user's
script would (``tfbig.distribute.strategy``, ``tfbig.distill.Distiller``,
``tfbig.prune.structured``, ``tfbig.prune.magnitude``/``strip``,
``tfbig.quantize.qat``, ``tfbig.export``, ``tfbig.report``); the absl trainer
(``python -m tfbig.train``) maps its flags onto its keyword arguments.
"""

import dataclasses
import math
import os
import time

from absl import logging

from tfbig import distribute
from tfbig.report import Report
from tfbig.report import measure_stage
from tfbig.train import _output
from tfbig.train import _stages
from tfbig.train.config import TrainConfig
from tfbig.train.data import load_dataset

__all__ = ["run_pipeline"]


class _Run:
    """State shared by the stages of one run."""

    def __init__(self, config, strategy, data, callbacks):
        self.config = config
        self.strategy = strategy
        self.chief = distribute.is_chief(strategy)
        self.global_batch = distribute.global_batch_size(config.batch_size, strategy)
        (self.x_train, self.y_train), (self.x_test, self.y_test) = data
        self.num_classes = int(max(self.y_train.max(), self.y_test.max())) + 1
        self.extra_callbacks = list(callbacks or [])
        self.state = None
        self.metrics = {}
        self.timings = {}

    def path(self, *parts):
        return os.path.join(self.config.output_dir, *parts)

    @property
    def steps_per_epoch(self):
        return max(1, math.ceil(len(self.x_train) / self.global_batch))

    def model_path(self, name):
        """Where a stage's model is saved (QAT models as HDF5: see BUILD notes)."""
        return self.path(name, "model.h5" if name == "qat" else "model.keras")

    def stage(self, name, build):
        """Runs ``build() -> (model, metrics)`` once; on --resume loads a finished stage."""
        saved = self.model_path(name)
        done = self.state["done"]
        if name in done and os.path.exists(saved):
            logging.info("tfbig.train: stage %r already done; loading %s", name, saved)
            self.metrics[name] = done[name]
            with self.strategy.scope():
                return _stages.load(saved)
        start = time.time()
        model, metrics = build()
        _output.save_model(model, saved, chief=self.chief)
        self.timings[name] = time.time() - start
        metrics = {k: float(v) for k, v in (metrics or {}).items()}
        metrics["seconds"] = round(self.timings[name], 2)
        self.metrics[name] = metrics
        logging.info(
            "tfbig.train: stage %r done in %.1f s (%s)", name, self.timings[name],
            ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k.startswith("test_")),
        )
        if self.chief:
            done[name] = metrics
            _output.write_state(self.config.output_dir, self.state)
        return model


def _report_stage(run, name, model_path, artifact_path=None, model=None):
    """Measures a stage on the saved files (a local copy: no strategy, no collectives)."""
    c = run.config
    local = model if model is not None else _stages.load(model_path)
    return measure_stage(
        name, local, path=artifact_path or model_path, x=run.x_test, y=run.y_test,
        batch_size=c.batch_size, latency_repeats=c.latency_repeats,
        metrics=run.metrics.get(name, {}),
    )


def run_pipeline(config=None, callbacks=None, distribute_strategy=None, **kwargs):
    """Runs the whole compression story and returns its :class:`~tfbig.report.Report`.

    Stages (each optional but the first): train or load the **teacher** and
    write its float32 TFLite file (the report's baseline); **distill** a
    smaller student; **structured** pruning (channels removed for real);
    weight **pruning** (magnitude, stripped); **QAT**; then the **export**
    formats (an int8 TFLite file by default), each file evaluated on the
    held-out data. Every stage's model is saved under ``output_dir/<stage>/``
    and recorded in ``state.json``; ``resume=True`` skips finished stages and
    continues an interrupted one from its ``BackupAndRestore`` backup.
    TensorBoard scalars go to ``output_dir/tensorboard/<stage>``. Files are
    written atomically, by the chief only under a multi-worker strategy.

    Args:
        config: a :class:`TrainConfig`. Defaults to ``None`` (built from
            ``kwargs``).
        callbacks: extra Keras callbacks added to every stage's ``fit``.
            Defaults to ``None``.
        distribute_strategy: a ``tf.distribute.Strategy`` object to use
            instead of ``tfbig.distribute.strategy(config.strategy)``.
            Defaults to ``None``.
        **kwargs: :class:`TrainConfig` fields (the trainer's flag names),
            e.g. ``epochs=2, sparsity=0.5, export=("tflite-int8",)``.

    Returns:
        A :class:`tfbig.report.Report` (also written as ``report.json``,
        ``report.md`` and ``report.png`` in ``output_dir``).

    Raises:
        ValueError: for a bad option (naming the flag) or an output directory
            that is not empty (without ``overwrite``/``resume``), before any
            training.

    Example:

    >>> run_pipeline(sparsity=1.5)
    Traceback (most recent call last):
    ...
    ValueError: --sparsity: is the fraction of zero weights and must be in [0, 1) (0 turns weight pruning off). Received: --sparsity=1.5
    """
    if config is None:
        config = TrainConfig(**kwargs)
    elif kwargs:
        config = dataclasses.replace(config, **kwargs)
    config.validate()
    strategy = distribute_strategy or _stages.make_strategy(config)
    data = load_dataset(config.dataset, config.label_column, config.seed)
    run = _Run(config, strategy, data, callbacks)
    run.state = _output.prepare(config, chief=run.chief)
    started = time.time()
    report = _stages.story(run, _report_stage)
    report.title = f"tfbig compression report ({config.dataset})"
    if run.chief:
        report.save(config.output_dir)
        _output.write_state(
            config.output_dir, dict(run.state, finished=True, seconds=round(time.time() - started, 1))
        )
    logging.info("tfbig.train: finished in %.1f s", time.time() - started)
    return report
