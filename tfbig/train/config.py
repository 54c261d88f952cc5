"""What a training run does: one validated, JSON-ready configuration.

:class:`TrainConfig` holds every option of :func:`tfbig.train.run_pipeline`;
its field names are the trainer's flag names, so a validation error names the
flag to fix. Validation happens before any TensorFlow work.
"""

import dataclasses
import os

from tfbig.models import MODELS

__all__ = ["TrainConfig", "EXPORT_FORMATS", "STRATEGIES", "parse_model_spec"]

EXPORT_FORMATS = ("savedmodel", "keras", "tflite-float", "tflite-int8", "tflite-float16")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "one_device")
SCHEDULES = ("polynomial", "constant")
PRECISIONS = ("off", "mixed_float16", "mixed_bfloat16")
LR_SCHEDULES = ("constant", "cosine")
TRAINING_STAGES = ("teacher", "distilled", "structured", "pruned", "qat")
_SAVED_SUFFIXES = (".keras", ".h5")


def _literal(text):
    """``"8,16"`` -> ``(8, 16)``; ``"0.5"`` -> 0.5; ``"true"`` -> True; else the text."""
    if "," in text:
        return tuple(_literal(t) for t in text.split(",") if t)
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_model_spec(spec, flag="model"):
    """Parses a model spec: a reference name with options, or a saved model path.

    ``"cnn"``, ``"cnn:filters=8,16,16;dense_units=0"`` (keyword arguments of
    :func:`tfbig.models.get_model`; a single value per key, a comma makes a
    tuple, ``0``/``none`` are kept as given), or the path of a ``.keras``/
    ``.h5`` file or SavedModel directory.

    Args:
        spec: the spec string.
        flag: the flag name used in errors. Defaults to ``"model"``.

    Returns:
        ``("reference", name, kwargs)`` or ``("saved", path, {})``.

    Raises:
        ValueError: for an unknown name, a malformed option or a missing file.

    Example:

    >>> parse_model_spec("cnn:filters=8,16;dense_units=0")
    ('reference', 'cnn', {'filters': (8, 16), 'dense_units': 0})
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"--{flag} must be a model name or a path. Received: --{flag}={spec!r}")
    looks_like_path = spec.endswith(_SAVED_SUFFIXES) or os.sep in spec or os.path.isdir(spec)
    if looks_like_path:
        if not os.path.exists(spec):
            raise ValueError(
                f"--{flag} names a saved model that does not exist; give an existing "
                f".keras/.h5 file or SavedModel directory, or one of {sorted(MODELS)}. "
                f"Received: --{flag}={spec!r}"
            )
        return ("saved", spec, {})
    name, _, options = spec.partition(":")
    if name not in MODELS:
        raise ValueError(
            f"--{flag}: unknown model {name!r}; use one of {sorted(MODELS)} (optionally "
            f"with options, e.g. 'cnn:filters=8,16'), or a saved model path. "
            f"Received: --{flag}={spec!r}"
        )
    kwargs = {}
    for item in filter(None, options.split(";")):
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(
                f"--{flag}: options must look like 'key=value;key=v1,v2'. "
                f"Received: --{flag}={spec!r}"
            )
        kwargs[key] = _literal(value)
    return ("reference", name, _fit_signature(name, kwargs, flag, spec))


def _fit_signature(name, kwargs, flag, spec):
    """Checks option names against the builder; a scalar where a tuple is due becomes one."""
    import inspect

    params = inspect.signature(MODELS[name]).parameters
    for key, value in kwargs.items():
        if key not in params:
            raise ValueError(
                f"--{flag}: {name}() has no option {key!r}; it takes "
                f"{sorted(p for p in params)}. Received: --{flag}={spec!r}"
            )
        if isinstance(params[key].default, tuple) and not isinstance(value, tuple):
            kwargs[key] = (value,)
    return kwargs


@dataclasses.dataclass
class TrainConfig:
    """Every option of a training run (field names are the flag names).

    The defaults are the README's main job: on the embedded digits data, train
    a CNN teacher, distill a 10x smaller CNN student, prune it to 75 %
    sparsity, fine-tune it quantization-aware and ship an int8 TFLite file;
    every stage trains on images shifted by up to one pixel, with a cosine
    learning-rate decay (see ``build_notes/trainer.md`` for the tuning).
    See ``python -m tfbig.train --helpfull`` for each field.

    Example:

    >>> TrainConfig(sparsity=0.5).validate().sparsity
    0.5
    """

    # Data, model, output.
    model: str = "cnn"
    dataset: str = "digits"
    label_column: int = -1
    output_dir: str = "tfbig_output"
    overwrite: bool = False
    resume: bool = False
    seed: int = 0
    # Distribution.
    strategy: str = "auto"
    logical_devices: int = 0
    mixed_precision: str = "off"
    accumulation_steps: int = 1
    # Optimization.
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_epochs: int = 0
    lr_schedule: str = "cosine"
    augment: tuple = ("teacher", "distilled", "structured", "pruned", "qat")
    scale_learning_rate: bool = False
    # Distillation.
    teacher: str = "train"
    distill: bool = True
    student: str = "cnn:filters=12,24,24;dense_units=0;dropout=0.1"
    distill_epochs: int = 60
    distill_learning_rate: float = 3e-3
    temperature: float = 4.0
    alpha: float = 0.1
    feature_pairs: str = ""
    # Structured pruning.
    structured_ratio: float = 0.0
    structured_epochs: int = 10
    # Weight pruning.
    sparsity: float = 0.75
    prune_schedule: str = "polynomial"
    sparsity_m_by_n: str = ""
    prune_epochs: int = 40
    # Quantization.
    qat: bool = True
    qat_epochs: int = 10
    qat_learning_rate: float = 1e-4
    export: tuple = ("tflite-int8",)
    # Report.
    latency_repeats: int = 20
    verbose: int = 0

    def to_dict(self):
        """A JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["export"] = list(self.export)
        data["augment"] = list(self.augment)
        return data

    @property
    def m_by_n(self):
        """``sparsity_m_by_n`` as a tuple ``(m, n)`` or ``None``."""
        if not self.sparsity_m_by_n:
            return None
        m, n = self.sparsity_m_by_n.split(":")
        return int(m), int(n)

    @property
    def feature_pair_list(self):
        """``feature_pairs`` as ``[(teacher_layer, student_layer), ...]``."""
        return [tuple(p.split(":")) for p in self.feature_pairs.split(",") if p]

    def validate(self):
        """Checks every field and their combinations; returns ``self``.

        Raises:
            ValueError: naming the flag (``--name``) and the fix.
        """
        _check_choices(self)
        _check_numbers(self)
        _check_combinations(self)
        return self


def _fail(flag, value, why):
    raise ValueError(f"--{flag}: {why} Received: --{flag}={value!r}")


def _check_choices(c):
    parse_model_spec(c.model, "model")
    if c.teacher != "train":
        if not c.distill:
            _fail("teacher", c.teacher, "a teacher path only makes sense with --distill.")
        parse_model_spec(c.teacher, "teacher")
    if c.distill:
        kind, _, _ = parse_model_spec(c.student, "student")
    if c.strategy not in STRATEGIES:
        _fail("strategy", c.strategy, f"must be one of {list(STRATEGIES)}.")
    if c.mixed_precision not in PRECISIONS:
        _fail("mixed_precision", c.mixed_precision, f"must be one of {list(PRECISIONS)}.")
    if c.lr_schedule not in LR_SCHEDULES:
        _fail("lr_schedule", c.lr_schedule, f"must be one of {list(LR_SCHEDULES)}.")
    if c.prune_schedule not in SCHEDULES:
        _fail("prune_schedule", c.prune_schedule, f"must be one of {list(SCHEDULES)}.")
    unknown_stages = [s for s in c.augment if s not in TRAINING_STAGES]
    if unknown_stages:
        _fail("augment", ",".join(c.augment),
              f"names unknown stage(s) {unknown_stages}; use some of {list(TRAINING_STAGES)} "
              "(or --augment= for none).")
    export = tuple(c.export)
    unknown = [f for f in export if f not in EXPORT_FORMATS]
    if unknown:
        _fail("export", ",".join(export), f"unknown format(s) {unknown}; use {list(EXPORT_FORMATS)}.")
    if len(set(export)) != len(export):
        _fail("export", ",".join(export), "lists a format twice.")
    if c.dataset != "digits" and not os.path.exists(c.dataset):
        _fail("dataset", c.dataset, "must be 'digits' or an existing .npz/.csv/.tfrecord file.")
    if c.dataset != "digits" and not c.dataset.endswith((".npz", ".csv", ".tfrecord", ".tfrecords")):
        _fail("dataset", c.dataset, "must end in .npz, .csv or .tfrecord.")
    if c.sparsity_m_by_n:
        parts = c.sparsity_m_by_n.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or not 0 < int(parts[0]) < int(parts[1]):
            _fail("sparsity_m_by_n", c.sparsity_m_by_n, "must look like '2:4' (m zeros in every n, 0 < m < n).")
    for pair in filter(None, c.feature_pairs.split(",")):
        if len(pair.split(":")) != 2 or not all(pair.split(":")):
            _fail("feature_pairs", c.feature_pairs,
                  "must look like 'teacher_layer:student_layer,teacher_layer:student_layer'.")


def _check_numbers(c):
    for flag in ("epochs", "distill_epochs", "prune_epochs", "qat_epochs", "structured_epochs"):
        value = getattr(c, flag)
        if not isinstance(value, int) or value < 0:
            _fail(flag, value, "must be an integer >= 0.")
    for flag in ("batch_size", "accumulation_steps", "latency_repeats"):
        value = getattr(c, flag)
        if not isinstance(value, int) or value < 1:
            _fail(flag, value, "must be an integer >= 1.")
    if not isinstance(c.logical_devices, int) or c.logical_devices < 0:
        _fail("logical_devices", c.logical_devices, "must be 0 (leave devices as they are) or more.")
    if not isinstance(c.warmup_epochs, int) or c.warmup_epochs < 0:
        _fail("warmup_epochs", c.warmup_epochs, "must be an integer >= 0.")
    for flag in ("learning_rate", "distill_learning_rate", "qat_learning_rate", "temperature"):
        if not getattr(c, flag) > 0:
            _fail(flag, getattr(c, flag), "must be > 0.")
    if not 0.0 <= c.sparsity < 1.0:
        _fail("sparsity", c.sparsity, "is the fraction of zero weights and must be in [0, 1) (0 turns weight pruning off).")
    if not 0.0 <= c.structured_ratio < 1.0:
        _fail("structured_ratio", c.structured_ratio, "is the fraction of channels to remove and must be in [0, 1) (0 turns it off).")
    if not 0.0 <= c.alpha <= 1.0:
        _fail("alpha", c.alpha, "weighs the student's own loss and must be in [0, 1].")


def _check_combinations(c):
    if c.overwrite and c.resume:
        _fail("resume", c.resume, "contradicts --overwrite (resume keeps the run, overwrite deletes it); pass one.")
    tflite_formats = [f for f in c.export if f.startswith("tflite")]
    if c.qat and tflite_formats and "tflite-int8" not in tflite_formats:
        _fail("qat", c.qat, f"trains for int8, but --export={','.join(c.export)} ships no "
              "tflite-int8 file; add tflite-int8 to --export or pass --noqat.")
    if c.sparsity_m_by_n and c.sparsity:
        _fail("sparsity_m_by_n", c.sparsity_m_by_n, "fixes the sparsity itself; pass --sparsity=0 with it.")
    if c.feature_pairs and not c.distill:
        _fail("feature_pairs", c.feature_pairs, "needs --distill.")
    if c.teacher == "train" and c.epochs == 0:
        _fail("epochs", c.epochs, "is 0 but the teacher is trained here (--teacher=train); give epochs or a --teacher path.")
