"""A multi-worker distillation script run by test_multiworker.py through the launcher.

Each worker distills a tiny MLP from a tiny MLP teacher (logits + a projected
feature) on the embedded digits under MultiWorkerMirroredStrategy and writes
its student and projection weights and its loss history to
``--out/worker<rank>.npz``.
"""

import argparse
import json
import os


def train(strategy, examples=192, global_batch=32, epochs=2):
    """The run both the workers and the single-process reference perform."""
    from tfbig import keras
    from tfbig.data import load_digits
    from tfbig.distill import Distiller
    from tfbig.distill import FeatureLoss
    from tfbig.distill import LogitsLoss
    from tfbig.distribute import distribute_dataset
    from tfbig.models import mlp

    x, y = load_digits("train")
    data = distribute_dataset(
        (x[:examples], y[:examples]), global_batch // strategy.num_replicas_in_sync,
        strategy=strategy)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        teacher = mlp(hidden=(32,), dropout=0.0, name="teacher")
        student = mlp(hidden=(8,), dropout=0.0, name="student")
        distiller = Distiller(  # tfbig: the student learns from the teacher
            teacher, student, [LogitsLoss(temperature=2.0), FeatureLoss("dense1", "dense1")],
            alpha=0.3)
        distiller.compile(keras.optimizers.SGD(0.1),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = distiller.fit(data, epochs=epochs, verbose=0)
    return distiller, history


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import numpy as np

    import tfbig.distribute as td

    strategy = td.strategy()  # tfbig: MultiWorkerMirroredStrategy from TF_CONFIG
    rank = strategy.cluster_resolver.task_id
    distiller, history = train(strategy)
    np.savez(
        os.path.join(args.out, f"worker{rank}.npz"),
        *[w.numpy() for w in distiller.trainable_weights],
        meta=json.dumps({
            "strategy": type(strategy).__name__,
            "replicas": strategy.num_replicas_in_sync,
            "history": history.history,
        }),
    )


if __name__ == "__main__":
    main()
