"""Dataset files the trainer reads."""

import numpy as np
import pytest

from tfbig.train import load_dataset


def test_digits():
    (x, y), (xt, yt) = load_dataset("digits")
    assert x.shape == (1437, 8, 8, 1) and xt.shape == (360, 8, 8, 1)


def test_npz_with_and_without_split(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((50, 4)).astype("float32"), np.arange(50) % 5
    np.savez(tmp_path / "a.npz", x_train=x[:40], y_train=y[:40], x_test=x[40:], y_test=y[40:])
    (xa, ya), (xb, yb) = load_dataset(str(tmp_path / "a.npz"))
    np.testing.assert_array_equal(xb, x[40:])
    np.savez(tmp_path / "b.npz", x=x, y=y)
    (xa, ya), (xb, yb) = load_dataset(str(tmp_path / "b.npz"))
    assert len(xa) == 40 and len(xb) == 10 and sorted(np.bincount(yb)) == [2] * 5
    np.savez(tmp_path / "c.npz", features=x)
    with pytest.raises(ValueError, match="--dataset"):
        load_dataset(str(tmp_path / "c.npz"))


def test_csv_with_header_and_label_column(tmp_path):
    rows = ["f1,label,f2"] + [f"{i / 10},{i % 2},{i}" for i in range(20)]
    (tmp_path / "d.csv").write_text("\n".join(rows))
    (x, y), (xt, yt) = load_dataset(str(tmp_path / "d.csv"), label_column=1)
    assert x.shape == (16, 2) and xt.shape == (4, 2)
    both = np.concatenate([x, xt])
    assert sorted(both[:, 1].tolist()) == list(range(20))  # f2 kept, label removed


def test_tfrecord(tmp_path):
    import tensorflow as tf

    path = str(tmp_path / "e.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(10):
            feature = {
                "x": tf.train.Feature(float_list=tf.train.FloatList(value=[float(i)] * 4)),
                "y": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 2])),
                "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=[2, 2])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    (x, y), (xt, yt) = load_dataset(path)
    assert x.shape == (8, 2, 2) and xt.shape == (2, 2, 2)
    assert sorted(np.concatenate([x, xt])[:, 0, 0].tolist()) == [float(i) for i in range(10)]
