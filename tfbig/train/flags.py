"""The trainer's absl flags: one per :class:`~tfbig.train.TrainConfig` field.

Flags are defined on a ``FlagValues`` object given by the caller (the
command line uses absl's global ``FLAGS``; tests use a fresh one), and
:func:`config_from_flags` maps them onto :class:`TrainConfig` keyword
arguments. Library code never reads flags.
"""

import dataclasses

from absl import flags

from tfbig.train.config import EXPORT_FORMATS
from tfbig.train.config import SCHEDULES
from tfbig.train.config import STRATEGIES
from tfbig.train.config import TrainConfig

__all__ = ["define_flags", "config_from_flags", "parse_flags"]

_D = TrainConfig()

_HELP = {
    "model": "Teacher model: a reference model (cnn, mlp, transformer), optionally with "
             "options ('cnn:filters=32,64;dense_units=64'), or a saved .keras/.h5/SavedModel path.",
    "dataset": "'digits' (embedded) or a .npz / .csv / .tfrecord file.",
    "label_column": "Label column of a CSV dataset.",
    "output_dir": "Where models, TFLite files, TensorBoard logs and the report go.",
    "overwrite": "Replace a non-empty output dir written by an earlier tfbig run.",
    "resume": "Continue an interrupted run in --output_dir from its backups.",
    "seed": "Random seed (weights, shuffling, data split of files).",
    "strategy": f"Distribution strategy: one of {', '.join(STRATEGIES)}.",
    "logical_devices": "Split the CPU into this many logical devices first (0: leave as is).",
    "mixed_precision": "Train the teacher in mixed precision: off, mixed_float16 (GPU) "
                       "or mixed_bfloat16 (CPU/TPU).",
    "accumulation_steps": "Micro-batches per optimizer update (gradient accumulation).",
    "epochs": "Teacher training epochs.",
    "batch_size": "Batch size per replica (the global batch is this times the replicas).",
    "learning_rate": "Teacher (and weight-pruning) learning rate.",
    "warmup_epochs": "Linear learning-rate warmup epochs (tfbig.distribute.WarmupSchedule).",
    "augment": "Stages whose training images get random 1-pixel shifts (empty: none).",
    "lr_schedule": "Learning rate over each stage: constant, or cosine decay to 5 %.",
    "scale_learning_rate": "Scale learning rates linearly with the global batch (Goyal et al.).",
    "teacher": "'train' (train --model first) or the path of a trained teacher to distill from.",
    "distill": "Distill a smaller --student from the teacher.",
    "student": "Student model, same forms as --model.",
    "distill_epochs": "Distillation epochs.",
    "distill_learning_rate": "Distillation learning rate.",
    "temperature": "Distillation temperature.",
    "alpha": "Weight of the student's own loss (1 - alpha weighs distillation).",
    "feature_pairs": "Intermediate distillation: 'teacher_layer:student_layer,...'.",
    "structured_ratio": "Fraction of channels to remove with structured pruning (0: off).",
    "structured_epochs": "Structured-pruning fine-tuning epochs.",
    "sparsity": "Weight-pruning target sparsity in [0, 1) (0: off).",
    "prune_schedule": f"Pruning schedule: {', '.join(SCHEDULES)}.",
    "sparsity_m_by_n": "m:n structured sparsity such as '2:4' (use with --sparsity=0).",
    "prune_epochs": "Weight-pruning fine-tuning epochs.",
    "qat": "Quantization-aware fine-tuning before the int8 export.",
    "qat_epochs": "QAT epochs.",
    "qat_learning_rate": "QAT learning rate.",
    "export": f"Comma-separated export formats: {', '.join(EXPORT_FORMATS)}.",
    "latency_repeats": "Timed calls per latency measurement in the report.",
    "verbose": "Keras progress output (0 silent, 1 bar, 2 one line per epoch).",
}


def define_flags(flag_values=None):
    """Defines the trainer's flags on ``flag_values`` (absl's ``FLAGS`` by default).

    Args:
        flag_values: an ``absl.flags.FlagValues``. Defaults to ``None``
            (the global ``FLAGS``).

    Returns:
        The ``FlagValues``.

    Example:

    >>> from absl import flags
    >>> fv = define_flags(flags.FlagValues())
    >>> fv["sparsity"].default
    0.75
    """
    fv = flags.FLAGS if flag_values is None else flag_values
    for field in dataclasses.fields(TrainConfig):
        name, default, help_text = field.name, getattr(_D, field.name), _HELP[field.name]
        if name in fv:
            continue
        if isinstance(default, bool):
            flags.DEFINE_bool(name, default, help_text, flag_values=fv)
        elif isinstance(default, int):
            flags.DEFINE_integer(name, default, help_text, flag_values=fv)
        elif isinstance(default, float):
            flags.DEFINE_float(name, default, help_text, flag_values=fv)
        elif isinstance(default, tuple):
            flags.DEFINE_list(name, list(default), help_text, flag_values=fv)
        else:
            flags.DEFINE_string(name, default, help_text, flag_values=fv)
    return fv


def config_from_flags(flag_values=None):
    """Maps parsed flags onto a validated :class:`TrainConfig`.

    Raises:
        ValueError: naming the flag, for a bad value or combination.
    """
    fv = flags.FLAGS if flag_values is None else flag_values
    values = {}
    for field in dataclasses.fields(TrainConfig):
        value = fv[field.name].value
        values[field.name] = tuple(value) if isinstance(value, list) else value
    return TrainConfig(**values).validate()


def parse_flags(argv):
    """Parses ``argv`` (``argv[0]`` is the program) into a validated config.

    Uses a fresh ``FlagValues``, so it can be called repeatedly (tests,
    notebooks); ``--flagfile`` works as on the command line.

    Raises:
        absl.flags.Error: for an unknown flag or an unparsable value.
        ValueError: naming the flag, for a bad value or combination.

    Example:

    >>> parse_flags(["tfbig-train", "--sparsity=0.5", "--export=keras"]).export
    ('keras',)
    """
    fv = define_flags(flags.FlagValues())
    fv(list(argv))
    return config_from_flags(fv)
