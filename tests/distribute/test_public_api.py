"""Pins tfbig.distribute's data-parallel public names; saved objects load anywhere."""

import subprocess
import sys

import tfbig.distribute as td

DATA_PARALLEL_NAMES = {
    "logical_device_names", "set_logical_devices", "launch_workers", "LaunchResult",
    "strategy", "GradientAccumulationOptimizer", "accumulate_gradients",
    "global_batch_size", "scale_learning_rate", "WarmupSchedule", "distribute_dataset",
    "distribute_files", "set_mixed_precision", "is_chief", "chief_path", "backup_and_restore",
}


def test_public_names_are_pinned_and_resolve():
    assert DATA_PARALLEL_NAMES <= set(td.__all__)
    for name in td.__all__:
        assert getattr(td, name) is not None


def test_saved_objects_load_in_a_fresh_process_without_custom_objects(tmp_path):
    """Only `import tfbig.distribute`: the optimizer and schedule come back."""
    from tfbig import keras

    model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
    model.compile(td.accumulate_gradients(keras.optimizers.SGD(td.WarmupSchedule(0.1, 5)), 3),
                  "mse")
    path = str(tmp_path / "m.keras")
    model.save(path)
    code = (
        "import sys, tfbig.distribute, tf_keras; "
        "m = tf_keras.models.load_model(sys.argv[1]); o = m.optimizer; "
        "print(type(o).__name__, o.accumulation_steps, "
        "type(o.inner_optimizer._learning_rate).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["GradientAccumulationOptimizer", "3", "WarmupSchedule"]
