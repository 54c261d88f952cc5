"""The trainer's stages, each composing tfbig's public API."""

import math
import os

from absl import logging

from tfbig import distill
from tfbig import distribute
from tfbig import export
from tfbig import prune
from tfbig import quantize
from tfbig._backend import keras
from tfbig.models import MODELS
from tfbig.prune import structured
from tfbig.report import Report
from tfbig.train.config import parse_model_spec

# Stage names, in the order they run (exports come after).
STAGES = ("teacher", "distilled", "structured", "pruned", "qat")
# Export format -> (report stage name, file name, tfbig.export.tflite quantize=).
TFLITE_EXPORTS = {
    "tflite-int8": ("int8", "model_int8.tflite", "int8"),
    "tflite-float16": ("float16", "model_float16.tflite", "float16"),
    "tflite-float": ("float32", "model_float32.tflite", None),
}


def make_strategy(config):
    """The strategy for ``config`` (logical CPU devices first, if asked)."""
    if config.logical_devices:
        distribute.set_logical_devices(config.logical_devices)
    return distribute.strategy(config.strategy)


def load(path):
    """Loads a saved stage model (tfbig's custom objects need no scope)."""
    return keras.models.load_model(path)


def _loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _optimizer(run, learning_rate, epochs):
    """Adam, with the learning rate scaled to the global batch and warmed up, if asked."""
    c = run.config
    base = learning_rate
    if c.scale_learning_rate:
        learning_rate = distribute.scale_learning_rate(
            learning_rate, global_batch_size=run.global_batch, base_batch_size=c.batch_size
        )
    schedule = learning_rate
    warmup = min(c.warmup_epochs, epochs) * run.steps_per_epoch
    decay_steps = epochs * run.steps_per_epoch - warmup
    if c.lr_schedule == "cosine" and decay_steps > 0:
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps, alpha=0.05)
    if warmup:
        initial = base if c.scale_learning_rate else 0.0
        schedule = distribute.WarmupSchedule(schedule, warmup, initial_learning_rate=initial)
    optimizer = keras.optimizers.Adam(schedule)
    if c.accumulation_steps > 1:
        optimizer = distribute.accumulate_gradients(optimizer, c.accumulation_steps)
    return optimizer


class ScalarLogger(keras.callbacks.Callback):
    """Writes each epoch's logs and the learning rate as TensorBoard scalars.

    Uses ``tf.summary.write`` with the scalars plugin, so the tensorboard
    package is not needed to write (only to view). Chief only.
    """

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = log_dir
        self._writer = None

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        values = dict(logs or {})
        optimizer = self.model.optimizer
        lr = getattr(optimizer, "learning_rate", None)
        if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
            lr = lr(optimizer.iterations)
        if lr is not None:
            values["learning_rate"] = keras.backend.get_value(lr)
        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        )
        with self._writer.as_default():
            for tag, value in values.items():
                tf.summary.write(f"epoch_{tag}", tf.constant(float(value), tf.float32),
                                 step=epoch, metadata=metadata)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()


def _callbacks(run, stage, extra=()):
    callbacks = [distribute.backup_and_restore(run.path("backup", stage), save_freq="epoch"), *extra]
    if run.chief:
        callbacks.append(ScalarLogger(run.path("tensorboard", stage)))
    return callbacks + run.extra_callbacks


def _shift_augmenter(run):
    """Random shifts of up to one pixel (images only; the test data is never touched)."""
    if run.x_train.ndim != 4:
        return None
    height, width = run.x_train.shape[1:3]
    return keras.layers.RandomTranslation(
        1.0 / height, 1.0 / width, fill_mode="constant", interpolation="nearest",
        seed=run.config.seed,
    )


def _train_data(run, stage):
    """The training set as a shuffled, batched ``tf.data.Dataset`` (augmented if asked)."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((run.x_train, run.y_train))
    data = data.shuffle(len(run.x_train), seed=run.config.seed, reshuffle_each_iteration=True)
    data = data.batch(run.global_batch)
    augmenter = _shift_augmenter(run) if stage in run.config.augment else None
    if augmenter is not None:
        data = data.map(lambda x, y: (augmenter(x, training=True), y),
                        num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


def _fit(run, model, stage, epochs, extra=()):
    logging.info("tfbig.train: stage %r: %d epochs", stage, epochs)
    history = model.fit(
        _train_data(run, stage), epochs=epochs,
        callbacks=_callbacks(run, stage, extra), verbose=run.config.verbose,
    )
    metrics = {k: v[-1] for k, v in history.history.items() if v}
    if epochs:
        results = model.evaluate(run.x_test, run.y_test, batch_size=256, verbose=0, return_dict=True)
        metrics.update({f"test_{k}": v for k, v in results.items()})
    return metrics


def _build(run, spec, flag, name=None):
    kind, target, kwargs = parse_model_spec(spec, flag)
    if kind == "saved":
        return load(target)
    kwargs.setdefault("input_shape", run.x_train.shape[1:])
    kwargs.setdefault("num_classes", run.num_classes)
    if name:
        kwargs.setdefault("name", name)
    return MODELS[target](**kwargs)


def _float32_copy(model):
    """A float32 copy of a mixed-precision model (same weights)."""

    def to_float32(value):
        if isinstance(value, dict):
            if value.get("class_name") == "Policy":
                return "float32"
            return {k: to_float32(v) for k, v in value.items()}
        if isinstance(value, list):
            return [to_float32(v) for v in value]
        return "float32" if value in ("mixed_float16", "mixed_bfloat16") else value

    copy = model.__class__.from_config(to_float32(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def teacher(run):
    """Trains the ``--model`` (or loads ``--teacher``)."""
    c = run.config
    if c.teacher != "train":
        with run.strategy.scope():
            model = load(c.teacher)
            model.compile(_optimizer(run, c.learning_rate, 1), _loss(), metrics=["accuracy"])
        return model, model.evaluate(run.x_test, run.y_test, verbose=0, return_dict=True)
    keras.utils.set_random_seed(c.seed)
    mixed = c.mixed_precision != "off"
    previous = distribute.set_mixed_precision(c.mixed_precision if mixed else "float32")
    try:
        with run.strategy.scope():
            model = _build(run, c.model, "model", name="teacher")
            model.compile(_optimizer(run, c.learning_rate, c.epochs), _loss(), metrics=["accuracy"])
        metrics = _fit(run, model, "teacher", c.epochs)
    finally:
        distribute.set_mixed_precision(previous)
    if mixed:
        with run.strategy.scope():
            model = _float32_copy(model)
    return model, metrics


def _losses(c):
    losses = [distill.LogitsLoss(temperature=c.temperature)]
    losses += [distill.FeatureLoss(t, s) for t, s in c.feature_pair_list]
    return losses


def _trainer(run, model, teacher_model, learning_rate, epochs):
    """``model`` itself, or a Distiller teaching it, compiled."""
    c = run.config
    trainee = model
    if teacher_model is not None:
        trainee = distill.Distiller(teacher_model, model, _losses(c), alpha=c.alpha)
    trainee.compile(_optimizer(run, learning_rate, epochs), _loss(), metrics=["accuracy"])
    return trainee


def distilled(run, teacher_model):
    """Distills the ``--student`` from the teacher."""
    c = run.config
    keras.utils.set_random_seed(c.seed + 1)
    with run.strategy.scope():
        student = _build(run, c.student, "student", name="student")
        trainer = _trainer(run, student, teacher_model, c.distill_learning_rate, c.distill_epochs)
    return student, _fit(run, trainer, "distilled", c.distill_epochs)


def structured_stage(run, model, teacher_model):
    """Removes ``--structured_ratio`` of the channels, gradually, then for real."""
    c = run.config
    keras.utils.set_random_seed(c.seed + 2)
    steps = c.structured_epochs * run.steps_per_epoch
    with run.strategy.scope():
        pruner = structured.GradualStructuredPruning(
            ratio=c.structured_ratio, begin_step=0, end_step=max(1, int(0.7 * steps)),
            frequency=max(1, run.steps_per_epoch // 2), model=model,
        )
        trainer = _trainer(run, model, teacher_model, c.distill_learning_rate / 3, c.structured_epochs)
    metrics = _fit(run, trainer, "structured", c.structured_epochs, extra=[pruner])
    with run.strategy.scope():
        smaller = pruner.prune_model() if c.structured_epochs else structured.prune(model, c.structured_ratio)
    metrics["params_removed"] = model.count_params() - smaller.count_params()
    return smaller, metrics


def pruned(run, model, teacher_model):
    """Magnitude-prunes to ``--sparsity`` (or ``--sparsity_m_by_n``), then strips."""
    c = run.config
    keras.utils.set_random_seed(c.seed + 3)
    tb_dir = run.path("tensorboard", "pruned") if run.chief else None
    schedule_kwargs = {}
    if not c.m_by_n:
        schedule_kwargs = dict(target_sparsity=c.sparsity, schedule=c.prune_schedule)
        if c.prune_schedule == "polynomial":
            schedule_kwargs["end_epoch"] = max(1, math.ceil(0.7 * c.prune_epochs))
    with run.strategy.scope():
        wrapped = prune.magnitude(
            model, sparsity_m_by_n=c.m_by_n, steps_per_epoch=run.steps_per_epoch,
            frequency=max(1, run.steps_per_epoch // 2), log_dir=tb_dir, **schedule_kwargs,
        )
        trainer = _trainer(run, wrapped, teacher_model, c.learning_rate, c.prune_epochs)
    metrics = _fit(run, trainer, "pruned", c.prune_epochs,
                   extra=[prune.PruningCallback(log_dir=tb_dir)])
    metrics["sparsity"] = prune.sparsity_report(wrapped).overall
    with run.strategy.scope():
        return prune.strip(wrapped), metrics


def qat(run, model, teacher_model):
    """Quantization-aware fine-tuning (sparsity preserved when pruned)."""
    c = run.config
    keras.utils.set_random_seed(c.seed + 4)
    with run.strategy.scope():
        quantized = quantize.qat(model)
        trainer = _trainer(run, quantized, teacher_model, c.qat_learning_rate, c.qat_epochs)
    return quantized, _fit(run, trainer, "qat", c.qat_epochs)


def story(run, report_stage):
    """Runs the stages the config asks for; returns the Report (chief) or an empty one."""
    c = run.config
    teacher_model = run.stage("teacher", lambda: teacher(run))
    model, tutor, done = teacher_model, None, ["teacher"]
    if c.distill:
        tutor = teacher_model
        model = run.stage("distilled", lambda: distilled(run, teacher_model))
        done.append("distilled")
    steps = (
        ("structured", c.structured_ratio > 0, structured_stage),
        ("pruned", bool(c.sparsity or c.m_by_n), pruned),
        ("qat", c.qat, qat),
    )
    for name, wanted, fn in steps:
        if wanted:
            model = run.stage(name, lambda fn=fn, model=model: fn(run, model, tutor))
            done.append(name)
    if not run.chief:
        return Report()
    return _report(run, report_stage, done)


def _report(run, report_stage, done):
    c = run.config
    report = Report(baseline="teacher", highlight="int8" if "tflite-int8" in c.export else None)
    teacher_local = load(run.model_path("teacher"))
    baseline = run.path("teacher", "float32.tflite")
    export.tflite(teacher_local, baseline, overwrite=True)
    report.add(report_stage(run, "teacher", None, baseline, model=teacher_local))
    for name in done[1:]:
        report.add(report_stage(run, name, run.model_path(name)))
    final = load(run.model_path(done[-1]))
    float_model = load(run.model_path(done[-2] if done[-1] == "qat" else done[-1]))
    for fmt in c.export:
        _export(run, report, report_stage, fmt, final, float_model)
    return report


def _export(run, report, report_stage, fmt, final, float_model):
    folder = run.path("export")
    os.makedirs(folder, exist_ok=True)
    if fmt == "keras":
        name = "model.h5" if export.is_qat_model(final) else "model.keras"
        export.keras(final, os.path.join(folder, name), overwrite=True)
        return
    if fmt == "savedmodel":
        export.savedmodel(final, os.path.join(folder, "savedmodel"), overwrite=True)
        return
    stage, filename, mode = TFLITE_EXPORTS[fmt]
    source = final if mode == "int8" else float_model
    path = os.path.join(folder, filename)
    calibration = run.x_train if mode == "int8" else None
    export.tflite(source, path, quantize=mode, calibration=calibration, overwrite=True)
    checked = export.evaluate_tflite(path, (run.x_test, run.y_test))
    run.metrics[stage] = {"evaluate_tflite_accuracy": checked["accuracy"]}
    report.add(report_stage(run, stage, None, path, model=source))
