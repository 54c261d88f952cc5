"""Data-parallel and model-parallel training inside ordinary ``model.fit``.

Importing this package registers its serializable Keras objects
(``GradientAccumulationOptimizer``, ``WarmupSchedule``), so models saved with
them load without ``custom_objects``.
"""

from tfbig.distribute.accumulation import GradientAccumulationOptimizer
from tfbig.distribute.accumulation import accumulate_gradients
from tfbig.distribute.chief import chief_path
from tfbig.distribute.chief import is_chief
from tfbig.distribute.data import distribute_dataset
from tfbig.distribute.data import distribute_files
from tfbig.distribute.devices import logical_device_names
from tfbig.distribute.devices import set_logical_devices
from tfbig.distribute.fault_tolerance import backup_and_restore
from tfbig.distribute.launch import LaunchResult
from tfbig.distribute.launch import launch_workers
from tfbig.distribute.pipeline import PipelineModel
from tfbig.distribute.pipeline import PipelinePlan
from tfbig.distribute.pipeline import StagePlan
from tfbig.distribute.pipeline import pipeline
from tfbig.distribute.pipeline import plan_pipeline
from tfbig.distribute.precision import set_mixed_precision
from tfbig.distribute.scaling import WarmupSchedule
from tfbig.distribute.scaling import global_batch_size
from tfbig.distribute.scaling import scale_learning_rate
from tfbig.distribute.strategies import strategy

__all__ = [
    "GradientAccumulationOptimizer",
    "LaunchResult",
    "PipelineModel",
    "PipelinePlan",
    "StagePlan",
    "WarmupSchedule",
    "accumulate_gradients",
    "backup_and_restore",
    "chief_path",
    "distribute_dataset",
    "distribute_files",
    "global_batch_size",
    "is_chief",
    "launch_workers",
    "logical_device_names",
    "pipeline",
    "plan_pipeline",
    "scale_learning_rate",
    "set_logical_devices",
    "set_mixed_precision",
    "strategy",
]
