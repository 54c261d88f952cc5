"""The per-stage Report: numbers, table, JSON round trip, Markdown and PNG."""

import json

import numpy as np
import pytest

from tfbig import keras
from tfbig.report import Report
from tfbig.report import StageResult
from tfbig.report import measure_stage


def _report():
    return Report([
        StageResult("teacher", "tflite", accuracy=0.99, params=1000, nonzero_params=1000,
                    sparsity=0.0, flops=2000, size_bytes=4400, gzip_bytes=4000,
                    latency_ms=2.0, batch_latency_ms=8.0, batch_size=32),
        StageResult("pruned", "keras", accuracy=0.988, params=100, nonzero_params=20,
                    sparsity=0.8, flops=200, size_bytes=900, gzip_bytes=400, latency_ms=1.0),
        StageResult("int8", "tflite", accuracy=0.986, size_bytes=150, gzip_bytes=80,
                    latency_ms=0.5, metrics={"loss": 0.1}),
    ])


def test_compare_against_baseline_by_hand():
    report = _report()
    c = report.compare("int8")
    assert c["gzip_ratio"] == pytest.approx(4000 / 80)
    assert c["size_ratio"] == pytest.approx(4400 / 150)
    assert c["accuracy_delta_pt"] == pytest.approx(-0.4)
    assert c["latency_ratio"] == pytest.approx(4.0)
    assert report.compare("int8", against="pruned")["gzip_ratio"] == pytest.approx(5.0)
    other = Report(report.stages, baseline="pruned")
    assert other.compare("teacher")["gzip_ratio"] == pytest.approx(0.1)
    assert "50.0x smaller gzipped" in report.summary()
    assert "(-0.40 pt)" in report.summary()


def test_table_and_markdown_cells():
    report = _report()
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["stage", "artifact", "accuracy"]
    assert "50.0x" in text and "98.60%" in text and "80.0%" in text and "-0.40" in text
    assert "3.9 KiB" in text and "(N=32)" in text
    md = report.to_markdown()
    table = [l for l in md.splitlines() if l.startswith("|")]
    assert len(table) == 2 + 3
    assert all(l.count("|") == table[0].count("|") for l in table)


def test_json_round_trip_and_files(tmp_path):
    report = _report()
    paths = report.save(tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["baseline"] == "teacher"
    assert data["comparisons"][2]["gzip_ratio"] == pytest.approx(50.0)
    again = Report.from_json(paths["json"])
    assert again.to_dict() == report.to_dict()
    assert Report.from_json(report.to_json()).names == report.names
    assert (tmp_path / "report.md").read_text().startswith("# tfbig compression report")
    png = (tmp_path / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp_")]


def test_errors_name_the_culprit():
    report = _report()
    with pytest.raises(ValueError, match="stage.name='int8'"):
        report.add(StageResult("int8"))
    with pytest.raises(TypeError, match="StageResult"):
        report.add({"name": "x"})
    with pytest.raises(KeyError, match="nope"):
        report["nope"]
    with pytest.raises(ValueError, match="Unknown StageResult fields"):
        StageResult.from_dict({"name": "a", "colour": 1})
    with pytest.raises(ValueError, match="model=None, path=None"):
        measure_stage("empty")
    with pytest.raises(ValueError, match="both `x` and `y`"):
        measure_stage("half", keras.Sequential([keras.layers.Dense(1, input_shape=(1,))]),
                      x=np.zeros((1, 1)))


def test_measure_stage_from_model_and_file(tmp_path):
    import tensorflow as tf

    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2, name="d")(inp))
    model.get_layer("d").set_weights([np.array([[1, 0], [0, 0], [0, -1]], "float32"), np.zeros(2)])
    x = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], "float32")
    y = np.array([0, 0, 1])
    keras_stage = measure_stage("float", model, x=x, y=y, batch_size=4, latency_repeats=3)
    assert (keras_stage.params, keras_stage.nonzero_params, keras_stage.flops) == (8, 2, 2 * 3 * 2 + 2)
    assert keras_stage.sparse_flops == 2 * 2 + 2
    assert keras_stage.accuracy == pytest.approx(2 / 3)  # third row ties: argmax 0
    assert keras_stage.batch_size == 4 and keras_stage.latency_ms > 0
    path = tmp_path / "m.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    file_stage = measure_stage("file", model, path=path, x=x, y=y, latency=False)
    assert file_stage.artifact == "tflite" and file_stage.size_bytes == path.stat().st_size
    assert file_stage.accuracy == keras_stage.accuracy and file_stage.latency_ms is None
    report = Report([keras_stage, file_stage])
    assert report.compare("file")["gzip_ratio"] == keras_stage.gzip_bytes / file_stage.gzip_bytes
