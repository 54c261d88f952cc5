"""The callbacks a compressed student needs, added to ``Distiller.fit``.

A tfbig-pruned student's own ``fit`` adds ``tfbig.prune.PruningCallback``; a
student assembled from tfmot's pruning wrappers needs tfmot's
``UpdatePruningStep``. Inside a Distiller, ``distiller.fit`` runs instead, so the
Distiller adds the same partner, unless the caller already passed one. Only
modules that are already imported are consulted: a student cannot hold tfbig or
tfmot wrappers without them.
"""

import sys

from absl import logging

_TFMOT_WRAPPER = (
    "tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper"
)
_TFMOT_CALLBACKS = (
    "tensorflow_model_optimization.python.core.sparsity.keras.pruning_callbacks"
)


def _has(model, cls):
    return any(isinstance(m, cls) for m in model.submodules)


def partner_callbacks(student, callbacks):
    """The callbacks to add for ``student`` given the caller's ``callbacks``."""
    added = []
    prune = sys.modules.get("tfbig.prune")
    if prune is not None and _has(student, prune.PruneLowMagnitude):
        if not any(isinstance(c, prune.PruningCallback) for c in callbacks):
            log_dir = getattr(student, "prune_log_dir", None)
            added.append(prune.PruningCallback(log_dir=log_dir))
    wrapper_module = sys.modules.get(_TFMOT_WRAPPER)
    if wrapper_module is not None:
        tfmot_wrappers = [
            m
            for m in student.submodules
            if isinstance(m, wrapper_module.PruneLowMagnitude)
            and not (prune is not None and isinstance(m, prune.PruneLowMagnitude))
        ]
        callbacks_module = sys.modules[_TFMOT_CALLBACKS]
        if tfmot_wrappers and not any(
            isinstance(c, callbacks_module.UpdatePruningStep) for c in callbacks
        ):
            added.append(callbacks_module.UpdatePruningStep())
    for callback in added:
        logging.info(
            "Distiller.fit: added %s, which the student's pruning wrappers need.",
            type(callback).__name__,
        )
    return added
