"""sparsity_report: data and a printable table."""

from tfbig import keras
from tfbig.prune import magnitude
from tfbig.prune import sparsity_report
from tests.prune.conftest import BUILDERS
from tests.prune.conftest import compile_model
from tests.prune.conftest import data_for


def test_report_counts_by_hand():
    model = keras.Sequential([keras.layers.Dense(3, input_shape=(2,), name="a"),
                              keras.layers.Dense(1, name="b")])
    model.layers[0].kernel.assign([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    model.layers[1].kernel.assign([[1.0], [0.0], [0.0]])
    report = sparsity_report(model)
    assert [(r.name, r.size, r.zeros) for r in report.layers] == [("a", 6, 3), ("b", 3, 2)]
    assert report.overall == 5 / 9
    assert report.params == 13 and report.nonzero_params == 4  # biases are zero


def test_report_of_pruned_model_and_table():
    x, y = data_for("nested", n=32)
    pruned = compile_model(magnitude(BUILDERS["nested"](), target_sparsity=0.5, end_step=1,
                                     frequency=1))
    pruned.fit(x, y, batch_size=16, verbose=0)
    report = sparsity_report(pruned)
    assert [r.name for r in report.layers] == ["inner/n1", "inner/n2", "out"]
    assert all(r.target == 0.5 and abs(r.sparsity - 0.5) < 0.01 for r in report.layers)
    assert report.to_dict()["overall"] == report.overall
    table = str(report)
    lines = table.splitlines()
    assert lines[0].split() == ["layer", "class", "weights", "zeros", "sparsity", "target"]
    assert lines[1].split()[:3] == ["inner/n1", "Dense", str(64 * 32)]
    assert lines[-2].startswith("overall")
