"""A multi-worker training script run by test_multi_worker.py through the launcher.

Each worker trains a tiny MLP on the embedded digits with tfbig's helpers and
writes what the test checks to ``--out/worker<rank>.npz``. ``--die_at k`` is
the test-only switch: worker 1 exits with code 17 after step k, on the first
start only (the launcher exports TFBIG_RESTART_COUNT).
"""

import argparse
import json
import os


def build_model():
    from tfbig import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.layers.Flatten(input_shape=(8, 8, 1)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(10),
    ])


def train(strategy, args, callbacks=()):
    """The training both the workers and the single-process reference run."""
    from tfbig import keras
    from tfbig.data import load_digits
    from tfbig.distribute import accumulate_gradients
    from tfbig.distribute import distribute_dataset

    x, y = load_digits("train")
    x, y = x[: args.examples], y[: args.examples]
    per_replica = args.global_batch // strategy.num_replicas_in_sync
    data = distribute_dataset((x, y), per_replica, strategy=strategy)
    with strategy.scope():
        model = build_model()
        optimizer = keras.optimizers.SGD(0.2, momentum=0.5)
        if args.accum > 1:
            optimizer = accumulate_gradients(optimizer, args.accum)
        model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(data, epochs=args.epochs, verbose=0, callbacks=list(callbacks))
    return model, history


def parse(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--global_batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--accum", type=int, default=1)
    parser.add_argument("--die_at", type=int, default=0)
    parser.add_argument("--save_freq", type=int, default=3)
    return parser.parse_args(argv)


def main():
    args = parse()
    import numpy as np
    import tfbig.distribute as td
    from tfbig import keras

    strategy = td.strategy()  # tfbig: MultiWorkerMirroredStrategy from TF_CONFIG
    assert td.strategy() is strategy  # one multi-worker strategy per process
    rank = strategy.cluster_resolver.task_id
    restart = int(os.environ.get("TFBIG_RESTART_COUNT", "0"))

    class DieAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            step = int(self.model._train_counter.numpy())
            if args.die_at and rank == 1 and restart == 0 and step >= args.die_at:
                print(f"worker {rank} dies at step {step}", flush=True)
                os._exit(17)

    callbacks = [td.backup_and_restore(os.path.join(args.out, "backup"), args.save_freq), DieAt()]
    model, history = train(strategy, args, callbacks)
    with td.chief_path(os.path.join(args.out, "export.keras")) as path:
        model.save(path)  # tfbig: every worker saves; only the chief's file stays
        wrote = path
    optimizer = model.optimizer
    micro = getattr(optimizer, "_micro_steps", None)
    np.savez(
        os.path.join(args.out, f"worker{rank}.npz"),
        *model.get_weights(),
        meta=json.dumps({
            "strategy": type(strategy).__name__,
            "replicas": strategy.num_replicas_in_sync,
            "loss": history.history["loss"],
            "epochs": history.epoch,
            "iterations": int(optimizer.iterations.numpy()),
            "micro_steps": None if micro is None else int(micro.numpy()),
            "restart": restart,
            "chief": td.is_chief(strategy),
            "wrote": wrote,
        }),
    )


if __name__ == "__main__":
    main()
