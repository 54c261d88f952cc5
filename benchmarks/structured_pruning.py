"""Dense vs structurally pruned (50 % channels): parameters, FLOPs and CPU latency.

For the digits reference CNN and for ResNet50 / MobileNetV2 (weights=None) at a
small input, prunes 50 % of every prunable channel group (rounded to multiples
of 8) with ``tfbig.prune.structured.prune`` and measures, in one run and
interleaved (dense, pruned, pruned, dense...), the latency of a batch of 64
through a ``tf.function`` and of a batch of 1 through the TFLite interpreter
(float32, 1 thread). Speed-ups are dense / pruned: the median of the per-round
paired ratios (``*_speedup_*``) and min over min (``*_speedup_*_min``). The
last line is JSON.

    python benchmarks/structured_pruning.py [--input_size 32] [--rounds 7] [--threads 1]
"""

import argparse
import json
import statistics
import time

import numpy as np
import tensorflow as tf

from tfbig import keras
from tfbig.models import cnn
from tfbig.prune import structured as sp
from tfbig.report import count_flops


def _tf_runner(model, batch):
    x = tf.constant(np.random.default_rng(0).random((batch, *model.input_shape[1:]), np.float32))
    fn = tf.function(lambda t: model(t, training=False))
    fn(x).numpy()
    return lambda: fn(x).numpy()


def _tflite_runner(model):
    from ai_edge_litert.interpreter import Interpreter

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    interpreter = Interpreter(model_content=converter.convert(), num_threads=1)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    x = np.random.default_rng(0).random(inp["shape"], np.float32)

    def run():
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()

    run()
    return run


def _interleaved(runners, rounds, calls):
    """Per-round seconds per call of a (dense, pruned) pair, alternating.

    Returns:
        ``(median dense s, median pruned s, median of the per-round
        dense/pruned ratios, min dense / min pruned)``: pairing each dense
        round with the pruned round right after it cancels most of the drift
        of a shared machine's load; the min-based ratio is the least disturbed.
    """
    times = [[] for _ in runners]
    for r in range(rounds):
        order = runners if r % 2 == 0 else runners[::-1]
        for run in order:
            start = time.perf_counter()
            for _ in range(calls):
                run()
            times[runners.index(run)].append((time.perf_counter() - start) / calls)
    dense, pruned = times
    paired = statistics.median(d / p for d, p in zip(dense, pruned))
    return statistics.median(dense), statistics.median(pruned), paired, min(dense) / min(pruned)


def compare(name, dense, rounds, calls, tflite=True):
    pruned = sp.prune(dense, ratio=0.5, round_to=8)
    row = {
        "params_dense": dense.count_params(),
        "params_pruned": pruned.count_params(),
        "flops_dense": count_flops(dense),
        "flops_pruned": count_flops(pruned),
    }
    d, p, paired, best = _interleaved([_tf_runner(dense, 64), _tf_runner(pruned, 64)], rounds,
                                      calls)
    row.update(tf_batch64_ms_dense=1e3 * d, tf_batch64_ms_pruned=1e3 * p)
    ratios = {
        f"{name}_param_ratio": row["params_dense"] / row["params_pruned"],
        f"{name}_flop_ratio": row["flops_dense"] / row["flops_pruned"],
        f"{name}_speedup_tf_batch64": paired,
        f"{name}_speedup_tf_batch64_min": best,
    }
    if tflite:
        d1, p1, paired1, best1 = _interleaved(
            [_tflite_runner(dense), _tflite_runner(pruned)], rounds, calls * 4)
        row.update(tflite_batch1_ms_dense=1e3 * d1, tflite_batch1_ms_pruned=1e3 * p1)
        ratios[f"{name}_speedup_tflite_batch1"] = paired1
        ratios[f"{name}_speedup_tflite_batch1_min"] = best1
    print(f"{name}: " + ", ".join(f"{k}={v:,.3f}" if isinstance(v, float) else f"{k}={v:,}"
                                  for k, v in {**row, **ratios}.items()), flush=True)
    return ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input_size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--models", default="cnn,resnet50,mobilenetv2")
    parser.add_argument("--threads", type=int, default=0,
                        help="TF intra/inter-op threads (0: TF's default); 1 is steadier "
                             "on a loaded machine")
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(0)
    size = (args.input_size, args.input_size, 3)
    builders = {
        "cnn": (cnn, args.calls),
        "resnet50": (lambda: keras.applications.ResNet50(
            weights=None, input_shape=size, classes=10), max(1, args.calls // 2)),
        "mobilenetv2": (lambda: keras.applications.MobileNetV2(
            weights=None, input_shape=size, classes=10), args.calls),
    }
    results = {"input_size": args.input_size, "tf_threads": args.threads}
    for name in args.models.split(","):
        build, calls = builders[name]
        results.update(compare(name, build(), args.rounds, calls))
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()}))


if __name__ == "__main__":
    main()
