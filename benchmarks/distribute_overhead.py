"""Overhead of tfbig.distribute vs hand-written tf.distribute, and of gradient accumulation.

Run: ``python benchmarks/distribute_overhead.py [--replicas 2] [--rounds 20]``.

Trains the same CNN on the embedded digits under a MirroredStrategy over
``--replicas`` logical CPUs, four ways, one epoch each per round for ``--rounds``
rounds (order alternating, after one tracing epoch each):

- ``tfbig``: ``tfbig.distribute.strategy()`` + ``distribute_dataset`` (the helpers);
- ``handwritten``: ``tf.distribute.MirroredStrategy(devices)`` (TF's default
  all-reduce) + a hand-built ``tf.data`` pipeline with the DATA shard policy;
- ``handwritten_same_allreduce``: the same, with ``ReductionToOneDevice``, the
  all-reduce ``strategy()`` picks for logical CPUs -- isolates helper overhead;
- ``accumulate``: the tfbig run with ``accumulate_gradients(optimizer, k)``.

Step time = epoch wall time / steps (epoch begin to end, not ``fit``'s set-up),
and process CPU time / steps (``*_cpu_ratio``: far less sensitive to other
processes on a shared machine). Each ratio is the median over rounds of the within-round
ratio, which cancels most load drift. The last line printed is a JSON object.
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _EpochTimer(keras):
    """A callback that measures one epoch (not ``fit``'s set-up)."""

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.cpu_start = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start
            self.cpu_seconds = time.process_time() - self.cpu_start

    return EpochTimer()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per_replica_batch", type=int, default=32)
    parser.add_argument("--accumulation_steps", type=int, default=4)
    args = parser.parse_args()

    import tfbig.distribute as td

    td.set_logical_devices(args.replicas)
    import tensorflow as tf

    from tfbig import keras
    from tfbig.data import load_digits
    from tfbig.models import cnn

    x, y = load_digits("train")
    devices = td.logical_device_names("CPU")[: args.replicas]
    global_batch = args.per_replica_batch * args.replicas
    steps = -(-len(x) // global_batch)

    def handwritten_data():
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    variants = {
        "tfbig": lambda: (td.strategy(), None, 1),
        "handwritten": lambda: (tf.distribute.MirroredStrategy(devices), handwritten_data(), 1),
        "handwritten_same_allreduce": lambda: (tf.distribute.MirroredStrategy(
            devices, cross_device_ops=tf.distribute.ReductionToOneDevice()),
            handwritten_data(), 1),
        "accumulate": lambda: (td.strategy(), None, args.accumulation_steps),
    }
    runs = {}
    for name, make in variants.items():  # build, compile and trace each once
        strategy, data, k = make()
        if data is None:
            data = td.distribute_dataset((x, y), args.per_replica_batch, strategy=strategy)
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = cnn(filters=(16, 32), dense_units=32, batch_norm=False, dropout=0.0)
            optimizer = keras.optimizers.SGD(0.05, momentum=0.9)
            if k > 1:
                optimizer = td.accumulate_gradients(optimizer, k)
            model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(data, epochs=1, verbose=0)
        runs[name] = (model, data)
    # Round-robin one epoch per variant per round (order alternating), so load
    # drift hits all variants alike; ratios are taken within a round.
    step_times = {name: [] for name in variants}
    cpu_times = {name: [] for name in variants}
    for round_ in range(args.rounds):
        order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
        for name in order:
            model, data = runs[name]
            timer = _EpochTimer(keras)
            model.fit(data, epochs=1, verbose=0, callbacks=[timer])
            step_times[name].append(timer.seconds / steps)
            cpu_times[name].append(timer.cpu_seconds / steps)
        if (round_ + 1) % 5 == 0:
            print(f"round {round_ + 1}/{args.rounds}: " + ", ".join(
                f"{n}={1000 * statistics.median(v):.2f} ms" for n, v in step_times.items()),
                flush=True)

    def ratio(a, b, times=step_times):
        return round(statistics.median(ta / tb for ta, tb in zip(times[a], times[b])), 4)

    median = {name: statistics.median(v) for name, v in step_times.items()}
    figures = {
        "tfbig_vs_handwritten_step_ratio": ratio("tfbig", "handwritten"),
        "tfbig_vs_handwritten_same_allreduce_ratio": ratio("tfbig", "handwritten_same_allreduce"),
        "grad_accum_overhead_ratio": ratio("accumulate", "tfbig"),
        "tfbig_vs_handwritten_cpu_ratio": ratio("tfbig", "handwritten", cpu_times),
        "tfbig_vs_handwritten_same_allreduce_cpu_ratio": ratio(
            "tfbig", "handwritten_same_allreduce", cpu_times),
        "grad_accum_overhead_cpu_ratio": ratio("accumulate", "tfbig", cpu_times),
        "step_ms": {name: round(1000 * t, 3) for name, t in median.items()},
        "step_cpu_ms": {name: round(1000 * statistics.median(t), 3)
                        for name, t in cpu_times.items()},
        "replicas": args.replicas,
        "global_batch": global_batch,
        "accumulation_steps": args.accumulation_steps,
        "rounds": args.rounds,
        "steps_per_epoch": steps,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print("tfbig / hand-written step time: "
          f"{figures['tfbig_vs_handwritten_step_ratio']} (TF default all-reduce), "
          f"{figures['tfbig_vs_handwritten_same_allreduce_ratio']} (same all-reduce); "
          f"accumulation (k={args.accumulation_steps}) / plain: "
          f"{figures['grad_accum_overhead_ratio']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
