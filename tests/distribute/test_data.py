"""Input pipelines under strategies: global batching, shard policy, epoch ends."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfbig import keras
from tfbig.distribute import distribute_dataset
from tfbig.distribute import distribute_files
from tfbig.distribute import strategy

_POLICY = tf.data.experimental.AutoShardPolicy


def _policy(ds):
    return ds.options().experimental_distribute.auto_shard_policy


def test_arrays_get_global_batches_and_data_sharding():
    s = strategy("mirrored", devices_per_worker=4)
    x, y = np.arange(37 * 3, dtype="float32").reshape(37, 3), np.arange(37)
    ds = distribute_dataset((x, y), per_replica_batch_size=4, strategy=s)
    assert [int(b[1].shape[0]) for b in ds] == [16, 16, 5]
    assert _policy(ds) == _POLICY.DATA
    assert _policy(distribute_dataset(tf.data.Dataset.range(4), 2)) == _POLICY.AUTO
    assert _policy(distribute_dataset(x, 2, shard_policy="off")) == _POLICY.OFF
    dropped = distribute_dataset({"a": x}, 4, strategy=s, drop_remainder=True)
    assert len(list(dropped)) == 2


def test_epoch_end_with_fewer_examples_than_replicas_fits():
    """35 examples, 4 replicas x 4: the last global batch (3) is smaller than 4."""
    s = strategy("mirrored", devices_per_worker=4)
    with s.scope():
        model = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
        model.compile("sgd", "mse")
    x, y = np.ones((35, 3), "float32"), np.zeros((35, 2), "float32")
    history = model.fit(distribute_dataset((x, y), 4, strategy=s, shuffle=True),
                        epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


def test_shuffle_is_seeded_and_reshuffles():
    x = np.arange(20)
    ds = distribute_dataset(x, 20, shuffle=True, seed=3)
    first, second = [next(iter(ds)).numpy() for _ in range(2)]
    assert sorted(first) == list(range(20)) and not np.array_equal(first, x)
    again = next(iter(distribute_dataset(x, 20, shuffle=True, seed=3))).numpy()
    np.testing.assert_array_equal(first, again)
    del second


def test_files_use_file_sharding(tmp_path):
    paths = []
    for i in range(3):
        path = os.path.join(tmp_path, f"part{i}.txt")
        with open(path, "w") as f:
            f.write("".join(f"{i}{j}\n" for j in range(4)))
        paths.append(path)
    ds = distribute_files(str(tmp_path / "part*.txt"), tf.data.TextLineDataset, 4)
    assert _policy(ds) == _POLICY.FILE
    values = sorted(v.decode() for batch in ds for v in batch.numpy())
    assert values == sorted(f"{i}{j}" for i in range(3) for j in range(4))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: distribute_dataset(np.ones(3), 0), ValueError, "per_replica_batch_size=0"),
        (lambda: distribute_dataset(np.ones(3), 2, shard_policy="rows"), ValueError,
         "shard_policy='rows'"),
        (lambda: distribute_dataset(np.ones(3), 2, shard_policy="file"), ValueError,
         "shard_policy='file'"),
        (lambda: distribute_dataset((np.ones(3), np.ones(4)), 2), ValueError, r"lengths \[3, 4\]"),
        (lambda: distribute_dataset("data.csv", 2), TypeError, "data of type str"),
        (lambda: distribute_files([], tf.data.TextLineDataset, 2), ValueError, r"files=\[\]"),
        (lambda: distribute_files(["a"], "reader", 2), TypeError, "reader of type str"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
