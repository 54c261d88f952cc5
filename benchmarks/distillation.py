"""Knowledge distillation on the embedded digits: accuracy, size and step time.

Trains a CNN teacher, then the same small CNN student (about 21 % of the
teacher's parameters) from scratch and distilled from the teacher
(``LogitsLoss(temperature=2)``, ``alpha=0.5``), each over several seeds, and
reports test accuracies and parameter counts. Then it times one training epoch
of three trainers side by side, interleaved over several rounds (medians):
the student alone, the Distiller running the teacher every step, and the
Distiller reading cached teacher outputs (``cache_teacher_outputs``), once
with the trained teacher and once with a wide teacher (timing only).

    python benchmarks/distillation.py            # about 2-4 minutes on 2 cores

The last line is a JSON object.
"""

import argparse
import json
import statistics
import time

import numpy as np

from tfbig import keras
from tfbig.data import load_digits
from tfbig.distill import Distiller
from tfbig.distill import LogitsLoss
from tfbig.distill import cache_teacher_outputs
from tfbig.models import cnn

BATCH = 64


def _scce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, batch_size=360, verbose=0), -1) == y))


def _teacher():
    return cnn(filters=(16, 32, 32), dense_units=64, name="teacher")


def _student(seed):
    keras.utils.set_random_seed(seed)
    return cnn(filters=(16, 32), dense_units=None, dropout=0.0, name="student")


def _distiller(teacher, student):
    distiller = Distiller(teacher=teacher, student=student,  # tfbig: distillation
                          distillation_losses=[LogitsLoss(temperature=2.0)], alpha=0.5)
    distiller.compile(keras.optimizers.Adam(3e-3), _scce(), metrics=["accuracy"])
    return distiller


def accuracies(args, train, test):
    keras.utils.set_random_seed(0)
    teacher = _teacher()
    teacher.compile(keras.optimizers.Adam(3e-3), _scce())
    teacher.fit(*train, batch_size=BATCH, epochs=args.teacher_epochs, verbose=0)
    scratch, distilled = [], []
    for seed in range(1, args.seeds + 1):
        student = _student(seed)
        student.compile(keras.optimizers.Adam(3e-3), _scce())
        student.fit(*train, batch_size=BATCH, epochs=args.student_epochs, verbose=0)
        scratch.append(_accuracy(student, *test))
        distiller = _distiller(teacher, _student(seed))
        data = cache_teacher_outputs(distiller, *train, batch_size=BATCH, seed=seed)
        distiller.fit(data, epochs=args.student_epochs, verbose=0)
        distilled.append(_accuracy(distiller.student, *test))
        print(f"seed {seed}: scratch {scratch[-1]:.4f}  distilled {distilled[-1]:.4f}", flush=True)
    return teacher, scratch, distilled


def step_times(args, teacher, train):
    """Median seconds per step of one epoch for each trainer, interleaved.

    All three compile with ``steps_per_execution=8`` so that Keras' per-step
    Python overhead does not hide the teacher's compute.
    """
    import tensorflow as tf

    def compiled(model):
        model.compile(keras.optimizers.Adam(3e-3), _scce(), metrics=["accuracy"],
                      steps_per_execution=8)
        return model

    alone = compiled(_student(100))
    direct = compiled(Distiller(teacher, _student(100), [LogitsLoss(temperature=2.0)], alpha=0.5))
    cached = compiled(Distiller(teacher, _student(100), [LogitsLoss(temperature=2.0)], alpha=0.5))
    cached_data = cache_teacher_outputs(cached, *train, batch_size=BATCH, seed=0)
    plain_data = (tf.data.Dataset.from_tensor_slices(train).shuffle(len(train[1]), seed=0)
                  .batch(BATCH).prefetch(tf.data.AUTOTUNE))
    trainers = {"student_alone": (alone, plain_data), "distill": (direct, plain_data),
                "distill_cached": (cached, cached_data)}
    steps = int(np.ceil(len(train[1]) / BATCH))
    times = {name: [] for name in trainers}
    for name, (model, data) in trainers.items():  # warm-up: tracing
        model.fit(data, epochs=1, verbose=0)
    for _ in range(args.rounds):
        for name, (model, data) in trainers.items():
            start = time.perf_counter()
            model.fit(data, epochs=1, verbose=0)
            times[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(values) for name, values in times.items()}


def _ratios(times):
    return {
        "distillation_step_time_ratio": times["distill"] / times["student_alone"],
        "cached_distillation_step_time_ratio": times["distill_cached"] / times["student_alone"],
        "caching_step_time_ratio": times["distill_cached"] / times["distill"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--teacher_epochs", type=int, default=20)
    parser.add_argument("--student_epochs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds (median)")
    args = parser.parse_args()

    train, test = load_digits("train"), load_digits("test")
    teacher, scratch, distilled = accuracies(args, train, test)
    teacher_accuracy = _accuracy(teacher, *test)
    student_params = _student(0).count_params()
    fraction = student_params / teacher.count_params()
    times = step_times(args, teacher, train)
    # A wide teacher (untrained: timing only) shows what caching saves when the
    # teacher's forward pass is a real part of the step.
    keras.utils.set_random_seed(0)
    wide = cnn(filters=(64, 128, 128), dense_units=512, name="wide_teacher")
    wide_times = step_times(args, wide, train)

    print(f"\n{'model':<22}{'params':>8}{'test accuracy':>16}")
    print(f"{'teacher':<22}{teacher.count_params():>8}{teacher_accuracy:>16.4f}")
    print(f"{'student (scratch)':<22}{student_params:>8}{np.mean(scratch):>16.4f}"
          f"  seeds {['%.4f' % a for a in scratch]}")
    print(f"{'student (distilled)':<22}{student_params:>8}{np.mean(distilled):>16.4f}"
          f"  seeds {['%.4f' % a for a in distilled]}")
    print(f"student / teacher parameters: {fraction:.3f}")
    ratios, wide_ratios = _ratios(times), _ratios(wide_times)
    for label, params, t, r in (("teacher", teacher.count_params(), times, ratios),
                                ("wide teacher", wide.count_params(), wide_times, wide_ratios)):
        print(f"\nms per training step with the {label} ({params} params), median of "
              f"{args.rounds} interleaved epochs, steps_per_execution=8:")
        for name, seconds in t.items():
            print(f"  {name:<16}{seconds * 1e3:8.2f}")
        for name, value in r.items():
            print(f"  {name}: {value:.3f}")
    print(json.dumps({
        "teacher_accuracy": round(teacher_accuracy, 4),
        "scratch_student_accuracy": round(float(np.mean(scratch)), 4),
        "distilled_student_accuracy": round(float(np.mean(distilled)), 4),
        "scratch_student_accuracies": [round(a, 4) for a in scratch],
        "distilled_student_accuracies": [round(a, 4) for a in distilled],
        "teacher_params": int(teacher.count_params()),
        "student_params": int(student_params),
        "student_param_fraction": round(fraction, 4),
        "step_ms": {k: round(v * 1e3, 3) for k, v in times.items()},
        **{k: round(v, 3) for k, v in ratios.items()},
        "wide_teacher_params": int(wide.count_params()),
        "wide_teacher_step_ms": {k: round(v * 1e3, 3) for k, v in wide_times.items()},
        **{f"wide_teacher_{k}": round(v, 3) for k, v in wide_ratios.items()},
    }))


if __name__ == "__main__":
    main()
