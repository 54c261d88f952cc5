"""The absl-flags trainer (``python -m tfbig.train``, ``tfbig-train``) and its API.

:func:`run_pipeline` runs the whole story (teacher, distillation, structured
and weight pruning, QAT, export, report) from keyword arguments, the fields of
:class:`TrainConfig`; the command line maps its flags onto them
(:func:`parse_flags`). :func:`load_dataset` reads digits, ``.npz``, CSV and
TFRecord data. Names are imported on first use, so ``--helpfull`` is quick.
"""

import importlib

_PUBLIC = {
    "TrainConfig": "tfbig.train.config",
    "parse_model_spec": "tfbig.train.config",
    "load_dataset": "tfbig.train.data",
    "define_flags": "tfbig.train.flags",
    "config_from_flags": "tfbig.train.flags",
    "parse_flags": "tfbig.train.flags",
    "run_pipeline": "tfbig.train.pipeline",
}

__all__ = list(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfbig.train' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
