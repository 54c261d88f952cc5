"""Every notebook in notebooks/ runs top to bottom (tiny epochs), so a broken one fails CI.

Notebooks are stored without outputs; they run in a fresh kernel of *this*
interpreter (the venv's ipykernel), in a temporary working directory, with
``TFBIG_NOTEBOOK_QUICK=1`` so they shrink their epochs.
"""

import glob
import json
import os
import sys

import pytest

NOTEBOOK_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")
NOTEBOOKS = sorted(glob.glob(os.path.join(NOTEBOOK_DIR, "*.ipynb")))
EXPECTED = [
    "01_distributed_training", "02_pruning", "03_quantization", "04_distillation",
    "05_end_to_end", "06_structured_pruning",
]
CELL_TIMEOUT_S = 300


def test_all_notebooks_present_and_stored_without_outputs():
    names = [os.path.splitext(os.path.basename(p))[0] for p in NOTEBOOKS]
    assert names == EXPECTED
    for path in NOTEBOOKS:
        with open(path, encoding="utf-8") as f:
            book = json.load(f)
        code = [c for c in book["cells"] if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code), path
        source = "".join("".join(c["source"]) for c in code)
        assert source.count("# tfbig:") >= 3, f"{path}: mark each tfbig touchpoint"


@pytest.fixture(scope="module")
def kernel_spec_dir(tmp_path_factory):
    """A kernelspec that starts this interpreter's ipykernel (not whatever 'python3' is)."""
    folder = tmp_path_factory.mktemp("kernels")
    spec = folder / "tfbig-venv"
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tfbig venv", "language": "python",
    }))
    return str(folder)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[os.path.basename(p) for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_spec_dir, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    monkeypatch.setenv("TFBIG_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.chdir(tmp_path)
    book = nbformat.read(path, as_version=4)
    manager = KernelManager(
        kernel_name="tfbig-venv",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernel_spec_dir]),
    )
    client = nbclient.NotebookClient(
        book, km=manager, timeout=CELL_TIMEOUT_S, kernel_name="tfbig-venv",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    images = [
        o for c in book.cells if c.cell_type == "code" for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert images, f"{os.path.basename(path)} shows no plot"
