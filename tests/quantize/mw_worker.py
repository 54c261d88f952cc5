"""A multi-worker QAT script run by test_distributed.py through the launcher.

Each worker QAT-trains a tiny CNN on the embedded digits under
MultiWorkerMirroredStrategy and writes its predictions on test images and its
trained weights to ``--out/worker<rank>.npz``.
"""

import argparse
import json
import os

EXAMPLES, GLOBAL_BATCH, EPOCHS = 512, 64, 2


def train(strategy):
    """The run every device count performs: same init, data, global batch."""
    import numpy as np

    from tfbig import keras
    from tfbig.data import load_digits
    from tfbig.distribute import distribute_dataset
    from tfbig.models import cnn
    from tfbig.quantize import qat

    x, y = load_digits("train")
    xt, _ = load_digits("test")
    data = distribute_dataset(
        (x[:EXAMPLES], y[:EXAMPLES]), GLOBAL_BATCH // strategy.num_replicas_in_sync,
        strategy=strategy)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = cnn(filters=(8, 16), dense_units=32, batch_norm=False, dropout=0.0)
        quantized = qat(model)  # tfbig: quantization-aware copy, inside the strategy scope
        quantized.compile(keras.optimizers.SGD(0.05),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    quantized.fit(data, epochs=EPOCHS, verbose=0)
    return quantized, np.asarray(quantized.predict(xt[:200], verbose=0))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import numpy as np

    import tfbig.distribute as td

    strategy = td.strategy()  # tfbig: MultiWorkerMirroredStrategy from TF_CONFIG
    rank = strategy.cluster_resolver.task_id
    model, predictions = train(strategy)
    np.savez(os.path.join(args.out, f"worker{rank}.npz"), predictions=predictions,
             meta=json.dumps({"strategy": type(strategy).__name__,
                              "replicas": strategy.num_replicas_in_sync}))


if __name__ == "__main__":
    main()
