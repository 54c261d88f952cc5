"""Float vs int8 TFLite for the reference CNN and transformer, side by side.

For each model: train on the embedded digits, export float32 and int8 TFLite
files (post-training int8 with calibration, and QAT fine-tune + int8), then
report file size (raw and gzipped), batch-1 latency (LiteRT interpreter, one
thread, float and int8 runs interleaved over several rounds, median per call)
and test accuracy. Prints a table, then the LAST line is one JSON object.

    python benchmarks/quantization.py [--rounds 7] [--calls 300]
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np

import tfbig.export as export
from tfbig import keras
from tfbig.data import load_digits
from tfbig.export._interpreter import load
from tfbig.models import cnn
from tfbig.models import transformer
from tfbig.quantize import qat


def _compile(model, learning_rate):
    model.compile(keras.optimizers.Adam(learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def _accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, batch_size=256, verbose=0), -1) == y))


def _latency_us(paths, x, rounds, calls):
    """Median microseconds per batch-1 call for each file, runs interleaved."""
    interpreters = {}
    for name, path in paths.items():
        it = load(path, num_threads=1)
        it.allocate_tensors()
        interpreters[name] = it
    times = {name: [] for name in paths}
    for _ in range(rounds):
        for name, it in interpreters.items():
            inp = it.get_input_details()[0]
            sample = x[:1].astype(inp["dtype"])
            it.set_tensor(inp["index"], sample)
            it.invoke()  # warm-up
            start = time.perf_counter()
            for _ in range(calls):
                it.set_tensor(inp["index"], sample)
                it.invoke()
            times[name].append((time.perf_counter() - start) / calls * 1e6)
    return {name: float(np.median(t)) for name, t in times.items()}


def _run(name, build, epochs, data, directory, rounds, calls):
    x, y, xt, yt = data
    keras.utils.set_random_seed(0)
    model = _compile(build(), 1e-3)
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    _compile(model, 2e-4).fit(x, y, batch_size=32, epochs=2, verbose=0)  # settle (and BN stats)
    qat_model = _compile(qat(model), 2e-4)  # online quantization: fine-tune with fake quant
    qat_model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    files = {
        "float": export.tflite(model, os.path.join(directory, f"{name}_f32.tflite"), batch_size=1),
        "int8": export.tflite(model, os.path.join(directory, f"{name}_int8.tflite"),
                              quantize="int8", calibration=x, batch_size=1),
        "qat_int8": export.tflite(qat_model, os.path.join(directory, f"{name}_qat.tflite"),
                                  quantize="int8", calibration=x, batch_size=1),
    }
    latency = _latency_us({k: s.path for k, s in files.items()}, xt, rounds, calls)
    accuracy = {k: export.evaluate_tflite(s.path, (xt, yt))["accuracy"] for k, s in files.items()}
    keras_accuracy = _accuracy(model, xt, yt)
    row = {"keras_float_accuracy": keras_accuracy}
    for kind, summary in files.items():
        row[kind] = {
            "bytes": summary.bytes, "gzip_bytes": summary.gzip_bytes,
            "latency_us": latency[kind], "accuracy": accuracy[kind],
            "int8_ops": sum(summary.int8_ops.values()), "float_ops": sum(summary.float_ops.values()),
        }
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    (x, y), (xt, yt) = load_digits("train"), load_digits("test")
    data = (x, y, xt, yt)
    directory = tempfile.mkdtemp(prefix="tfbig_quant_bench_")
    results = {
        "cnn": _run("cnn", cnn, 10, data, directory, args.rounds, args.calls),
        "transformer": _run("transformer", lambda: transformer(dropout=0.0), 15, data,
                            directory, args.rounds, args.calls),
    }
    print(f"{'model':12} {'file':9} {'bytes':>8} {'gzip':>8} {'us/call':>9} {'acc %':>7}")
    for name, row in results.items():
        for kind in ("float", "int8", "qat_int8"):
            r = row[kind]
            print(f"{name:12} {kind:9} {r['bytes']:8d} {r['gzip_bytes']:8d} "
                  f"{r['latency_us']:9.1f} {100 * r['accuracy']:7.2f}")
    summary = {"load_average_1m": os.getloadavg()[0]}
    for name, row in results.items():
        f, q, t = row["float"], row["int8"], row["qat_int8"]
        summary.update({
            f"{name}_int8_speedup": round(f["latency_us"] / q["latency_us"], 3),
            f"{name}_int8_size_ratio": round(q["bytes"] / f["bytes"], 3),
            f"{name}_int8_gzip_size_ratio": round(q["gzip_bytes"] / f["gzip_bytes"], 3),
            f"{name}_float_accuracy": round(100 * f["accuracy"], 2),
            f"{name}_int8_accuracy": round(100 * q["accuracy"], 2),
            f"{name}_int8_accuracy_drop_pts": round(100 * (f["accuracy"] - q["accuracy"]), 2),
            f"{name}_qat_int8_accuracy": round(100 * t["accuracy"], 2),
            f"{name}_qat_int8_accuracy_drop_pts": round(100 * (f["accuracy"] - t["accuracy"]), 2),
            f"{name}_int8_float_ops": q["float_ops"],
        })
    for name in results:
        print(f"{name}: int8 is {summary[f'{name}_int8_speedup']}x faster, "
              f"{summary[f'{name}_int8_size_ratio']}x the bytes "
              f"({summary[f'{name}_int8_gzip_size_ratio']}x gzipped), "
              f"accuracy drop {summary[f'{name}_int8_accuracy_drop_pts']} pts PTQ, "
              f"{summary[f'{name}_qat_int8_accuracy_drop_pts']} pts QAT")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
