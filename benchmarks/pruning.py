"""Pruning benchmark: step time of pruning-in-fit vs plain fit, tfbig vs hand-written
tfmot, and the gzipped size of the stripped model vs the dense one.

The three trainings run interleaved, one epoch each per round, on the reference
CNN and the embedded digits data; a callback times every training step and the
figure per variant is the median over all steps of all rounds (the first epoch
of each, which traces the graph, and the first 3 steps of every epoch are left
out; the order rotates every round). The last line is a JSON object.

    python benchmarks/pruning.py [--rounds 6] [--batch_size 32]
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402

import tfbig.prune  # noqa: E402
from tfbig import keras  # noqa: E402
from tfbig.data import load_digits  # noqa: E402
from tfbig.models import cnn  # noqa: E402
from tfbig.report import model_size  # noqa: E402

TARGET = 0.8


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of every training step."""

    def __init__(self):
        super().__init__()
        self.times, self._start = [], None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def _compile(model):
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _copy(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch_size", type=int, default=32)
    args = parser.parse_args()

    x, y = load_digits("train")
    steps_per_epoch = int(np.ceil(len(x) / args.batch_size))
    end_step = steps_per_epoch * (args.rounds - 1)
    keras.utils.set_random_seed(0)
    dense = cnn()

    plain = _compile(_copy(dense))
    # tfbig: one call; fit adds its callback itself.
    ours = _compile(tfbig.prune.magnitude(dense, target_sparsity=TARGET, end_step=end_step,
                                          frequency=100))
    # Hand-written tfmot: the same schedule, the partner callback passed by hand.
    theirs = _compile(tfmot.sparsity.keras.prune_low_magnitude(
        _copy(dense),
        pruning_schedule=tfmot.sparsity.keras.PolynomialDecay(0.0, TARGET, 0, end_step,
                                                              frequency=100)))
    variants = {
        "plain": (plain, []),
        "tfbig": (ours, []),
        "tfmot": (theirs, [tfmot.sparsity.keras.UpdatePruningStep()]),
    }
    times = {name: [] for name in variants}
    names = list(variants)
    for epoch in range(args.rounds):
        # Rotate the order every round so no variant always runs first.
        for name in names[epoch % 3:] + names[:epoch % 3]:
            model, callbacks = variants[name]
            timer = StepTimer()
            model.fit(x, y, batch_size=args.batch_size, epochs=epoch + 1, initial_epoch=epoch,
                      callbacks=callbacks + [timer], verbose=0)
            if epoch > 0:  # the first epoch traces the graph; skip each epoch's warm-up steps
                times[name].extend(timer.times[3:])
        print(f"round {epoch + 1}/{args.rounds}: " + ", ".join(
            f"{n} {np.median(times[n]) * 1e3:.2f} ms" for n in times if times[n]), flush=True)

    median = {name: float(np.median(t)) for name, t in times.items()}
    stripped = tfbig.prune.strip(ours)
    report = tfbig.prune.sparsity_report(stripped)
    print(report)
    dense_size = model_size(_copy(dense), save_format="h5")
    stripped_size = model_size(stripped, save_format="h5")
    result = {
        "model": "tfbig.models.cnn",
        "params": int(dense.count_params()),
        "batch_size": args.batch_size,
        "timed_steps_per_variant": len(times["plain"]),
        "plain_step_ms": round(median["plain"] * 1e3, 3),
        "tfbig_step_ms": round(median["tfbig"] * 1e3, 3),
        "tfmot_step_ms": round(median["tfmot"] * 1e3, 3),
        "pruning_vs_plain_step_ratio": round(median["tfbig"] / median["plain"], 3),
        "tfbig_vs_tfmot_step_ratio": round(median["tfbig"] / median["tfmot"], 3),
        "stripped_sparsity": round(report.overall, 4),
        "dense_h5_gzip_bytes": dense_size.gzip_bytes,
        "stripped_h5_gzip_bytes": stripped_size.gzip_bytes,
        "dense_vs_stripped_gzip_ratio": round(dense_size.gzip_bytes / stripped_size.gzip_bytes, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
