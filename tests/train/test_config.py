"""Flags -> TrainConfig: every bad flag is a usage error naming it, before training."""

import os
import subprocess
import sys

import pytest
from absl import flags

from tfbig.train import TrainConfig
from tfbig.train import parse_flags
from tfbig.train import parse_model_spec


def _parse(*args):
    return parse_flags(["tfbig-train", *args])


def test_defaults_are_the_whole_story():
    config = _parse()
    assert config == TrainConfig()
    assert config.distill and config.qat and config.sparsity > 0
    assert config.export == ("tflite-int8",)
    assert parse_model_spec(config.student)[0] == "reference"


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--model=resnet9000"], "--model"),
        (["--sparsity=1.5"], "--sparsity"),
        (["--sparsity=-0.1"], "--sparsity"),
        (["--export=tflite-float16"], "--qat"),
        (["--teacher=/no/such/teacher.keras"], "--teacher"),
        (["--student=cnn:filters"], "--student"),
        (["--student=cnn:colour=3"], "--student"),
        (["--export=tflite-int8,onnx"], "--export"),
        (["--strategy=magic"], "--strategy"),
        (["--sparsity_m_by_n=4:2", "--sparsity=0"], "--sparsity_m_by_n"),
        (["--sparsity_m_by_n=2:4"], "--sparsity_m_by_n"),
        (["--resume", "--overwrite"], "--resume"),
        (["--structured_ratio=1"], "--structured_ratio"),
        (["--batch_size=0"], "--batch_size"),
        (["--dataset=missing.npz"], "--dataset"),
        (["--feature_pairs=fc", "--nodistill"], "--feature_pairs"),
        (["--temperature=0"], "--temperature"),
        (["--augment=teacher,bogus"], "--augment"),
        (["--lr_schedule=linear"], "--lr_schedule"),
        (["--mixed_precision=fp8"], "--mixed_precision"),
    ],
)
def test_bad_flags_name_the_flag(args, flag):
    with pytest.raises(ValueError, match=f"{flag}") as err:
        _parse(*args)
    assert "Received: " in str(err.value)


def test_unknown_flag_is_an_absl_error():
    with pytest.raises(flags.Error, match="no_such_flag"):
        _parse("--no_such_flag=1")


def test_flagfile_and_lists(tmp_path):
    flagfile = tmp_path / "recipe.flags"
    flagfile.write_text("--model=mlp:hidden=32,16\n--sparsity=0\n--sparsity_m_by_n=2:4\n"
                        "--export=tflite-int8,keras\n--nodistill\n")
    config = _parse(f"--flagfile={flagfile}", "--epochs=3")
    assert config.epochs == 3 and not config.distill and config.m_by_n == (2, 4)
    assert config.export == ("tflite-int8", "keras")
    assert _parse("--augment=").augment == ()
    assert parse_model_spec(config.model) == ("reference", "mlp", {"hidden": (32, 16)})


def test_model_spec_forms(tmp_path):
    assert parse_model_spec("transformer:num_layers=1;dropout=0.0") == (
        "reference", "transformer", {"num_layers": 1, "dropout": 0.0})
    saved = tmp_path / "m.keras"
    saved.write_bytes(b"x")
    assert parse_model_spec(str(saved)) == ("saved", str(saved), {})
    with pytest.raises(ValueError, match="--teacher"):
        parse_model_spec("nope.keras", "teacher")


def test_command_line_usage_error_before_training(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-m", "tfbig.train", "--sparsity=1.5", f"--output_dir={tmp_path / 'out'}"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 1
    assert "--sparsity" in proc.stderr and "Received: --sparsity=1.5" in proc.stderr
    assert not (tmp_path / "out").exists()  # nothing written, nothing trained
