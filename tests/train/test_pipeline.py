"""The trainer end to end with tiny epochs: stages on and off, resume, refusal, launcher."""

import json
import os
import subprocess
import sys

import pytest

from tfbig import keras
from tfbig.report import Report
from tfbig.train import run_pipeline

TINY = dict(
    model="mlp:hidden=24", student="mlp:hidden=12", epochs=2, distill_epochs=2,
    prune_epochs=2, qat_epochs=1, structured_epochs=2, batch_size=64, latency_repeats=2,
    strategy="default",
)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("full") / "run")
    report = run_pipeline(
        output_dir=out, structured_ratio=0.25, sparsity=0.5, warmup_epochs=1,
        export=("tflite-int8", "tflite-float16", "tflite-float", "keras", "savedmodel"), **TINY,
    )
    return out, report


@pytest.mark.slow
def test_every_stage_and_export(full_run):
    out, report = full_run
    assert report.names == ["teacher", "distilled", "structured", "pruned", "qat",
                            "int8", "float16", "float32"]
    for name in ("teacher", "distilled", "structured", "pruned"):
        assert os.path.isfile(os.path.join(out, name, "model.keras"))
    for name in ("model_int8.tflite", "model_float16.tflite", "model_float32.tflite", "model.h5"):
        assert os.path.isfile(os.path.join(out, "export", name))
    assert os.path.isfile(os.path.join(out, "export", "savedmodel", "saved_model.pb"))
    teacher, structured, pruned, int8 = (report[n] for n in ("teacher", "structured", "pruned", "int8"))
    assert teacher.artifact == "tflite" and teacher.path.endswith("float32.tflite")
    assert structured.params < report["distilled"].params  # channels removed for real
    assert pruned.sparsity > 0.3 and pruned.params == structured.params
    assert int8.metrics["evaluate_tflite_accuracy"] == pytest.approx(int8.accuracy)
    assert report.highlight == "int8" and "int8 (tflite) vs teacher (tflite)" in report.summary()
    state = json.load(open(os.path.join(out, "state.json")))
    assert state["finished"] and set(state["done"]) == {"teacher", "distilled", "structured", "pruned", "qat"}
    assert Report.from_json(os.path.join(out, "report.json")).names == report.names
    for stage in ("teacher", "distilled", "structured", "pruned", "qat"):
        events = os.listdir(os.path.join(out, "tensorboard", stage))
        assert any(e.startswith("events.out.tfevents") for e in events), stage
    assert not os.path.exists(os.path.join(out, "backup", "teacher", "chief"))


def test_stages_off_with_distribution_options(tmp_path):
    out = tmp_path / "run"
    report = run_pipeline(
        output_dir=str(out), distill=False, sparsity=0.0, qat=False, export=("tflite-float",),
        mixed_precision="mixed_bfloat16", accumulation_steps=2, scale_learning_rate=True,
        warmup_epochs=1, **dict(TINY, epochs=4, learning_rate=1e-2),
    )
    assert report.names == ["teacher", "float32"]
    assert report["float32"].accuracy == pytest.approx(report["teacher"].accuracy, abs=0.01)
    assert report["teacher"].accuracy > 0.5  # it learned, in bfloat16 with accumulation
    teacher = keras.models.load_model(out / "teacher" / "model.keras")
    assert {layer.dtype_policy.name for layer in teacher.layers} == {"float32"}


def test_refuses_to_overwrite(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    with pytest.raises(ValueError, match="--output_dir is not empty"):
        run_pipeline(output_dir=str(out), **TINY)
    with pytest.raises(ValueError, match="not a tfbig output|nothing was deleted"):
        run_pipeline(output_dir=str(out), overwrite=True, **TINY)
    with pytest.raises(ValueError, match="--resume needs"):
        run_pipeline(output_dir=str(out), resume=True, **TINY)
    assert (out / "precious.txt").read_text() == "mine"


class _Interrupt(keras.callbacks.Callback):
    """Stops the process-like run at epoch 2 of the second fit (the distillation)."""

    def __init__(self):
        super().__init__()
        self.fits = 0

    def on_train_begin(self, logs=None):
        self.fits += 1

    def on_epoch_begin(self, epoch, logs=None):
        if self.fits == 2 and epoch == 1:
            raise KeyboardInterrupt("simulated preemption")


class _Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.first_epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        if not self.first_epochs or self.first_epochs[-1] is not None:
            pass

    def on_train_begin(self, logs=None):
        self.first_epochs.append(None)

    def on_epoch_end(self, epoch, logs=None):
        if self.first_epochs[-1] is None:
            self.first_epochs[-1] = epoch


@pytest.mark.slow
def test_resume_after_interruption(tmp_path):
    out = str(tmp_path / "run")
    args = dict(TINY, sparsity=0.0, qat=False, export=("tflite-float",))
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(output_dir=out, callbacks=[_Interrupt()], **args)
    state = json.load(open(os.path.join(out, "state.json")))
    assert list(state["done"]) == ["teacher"]
    with pytest.raises(ValueError, match="--distill_epochs"):
        run_pipeline(output_dir=out, resume=True, **dict(args, distill_epochs=5))
    recorder = _Recorder()
    report = run_pipeline(output_dir=out, resume=True, callbacks=[recorder], **args)
    # The teacher is not retrained; the distillation continues from its backup (epoch 2).
    assert recorder.first_epochs == [1]
    assert report.names == ["teacher", "distilled", "float32"]
    assert report["teacher"].metrics == state["done"]["teacher"]


@pytest.mark.slow
def test_command_line_with_flagfile(tmp_path):
    flagfile = tmp_path / "tiny.flags"
    flagfile.write_text("\n".join(f"--{k}={v}" for k, v in TINY.items()) + "\n--sparsity=0.5\n")
    out = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-m", "tfbig.train", f"--flagfile={flagfile}", f"--output_dir={out}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "x smaller (gzip)" in proc.stdout and "int8 (tflite) vs teacher (tflite)" in proc.stdout
    assert (out / "report.md").is_file() and (out / "report.png").is_file()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 1 and "--output_dir is not empty" in again.stderr


@pytest.mark.slow
@pytest.mark.multiworker
def test_under_the_launcher_with_two_workers(tmp_path):
    from tfbig.distribute import launch_workers

    out = tmp_path / "run"
    flags = [f"--{k}={v}" for k, v in dict(TINY, strategy="auto").items()]
    result = launch_workers(
        [sys.executable, "-m", "tfbig.train", f"--output_dir={out}", "--sparsity=0.5", *flags],
        num_workers=2, timeout=600, env={"TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, "\n".join(o[-2000:] for o in result.outputs)
    report = json.load(open(out / "report.json"))
    assert [s["name"] for s in report["stages"]] == ["teacher", "distilled", "pruned", "qat", "int8"]
    assert "x smaller (gzip)" in result.outputs[0]
    assert len(os.listdir(out)) == len(set(os.listdir(out)))
    assert not [p for p in os.listdir(out) if p.startswith("tfbig_worker")]
