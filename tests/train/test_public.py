"""The public surface of tfbig.train changes only on purpose; importing it is cheap."""

import subprocess
import sys

import tfbig.train


def test_public_names():
    assert sorted(tfbig.train.__all__) == [
        "TrainConfig", "config_from_flags", "define_flags", "load_dataset", "parse_flags",
        "parse_model_spec", "run_pipeline",
    ]
    for name in tfbig.train.__all__:
        assert getattr(tfbig.train, name).__doc__, name


def test_import_does_not_load_tensorflow():
    code = "import sys, tfbig.train; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
