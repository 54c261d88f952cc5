"""Data-parallel and model-parallel training inside ordinary ``model.fit``.

Names are imported on first use (``tfbig.distribute.launch_workers`` does not
import TensorFlow), so the launcher process stays light.
"""

import importlib

# Public names: name -> defining module.
_PUBLIC = {
    "logical_device_names": "tfbig.distribute.devices",
    "set_logical_devices": "tfbig.distribute.devices",
    "launch_workers": "tfbig.distribute.launch",
    "LaunchResult": "tfbig.distribute.launch",
    "strategy": "tfbig.distribute.strategies",
    "GradientAccumulationOptimizer": "tfbig.distribute.accumulation",
    "accumulate_gradients": "tfbig.distribute.accumulation",
    "global_batch_size": "tfbig.distribute.scaling",
    "scale_learning_rate": "tfbig.distribute.scaling",
    "WarmupSchedule": "tfbig.distribute.scaling",
    "distribute_dataset": "tfbig.distribute.data",
    "distribute_files": "tfbig.distribute.data",
    "set_mixed_precision": "tfbig.distribute.precision",
    "is_chief": "tfbig.distribute.chief",
    "chief_path": "tfbig.distribute.chief",
    "backup_and_restore": "tfbig.distribute.fault_tolerance",
}

__all__ = list(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfbig.distribute' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
