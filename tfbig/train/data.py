"""Datasets the trainer reads: embedded digits, ``.npz``, CSV and TFRecord files.

Every loader returns numpy arrays ``(x_train, y_train), (x_test, y_test)``
with integer class ids; images keep their shape, tabular rows are ``(N, F)``.
"""

import os

import numpy as np

__all__ = ["load_dataset"]

_TEST_FRACTION = 0.2


def _split(x, y, seed):
    from sklearn.model_selection import train_test_split

    stratify = y if np.min(np.bincount(y)) >= 2 else None
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=_TEST_FRACTION, random_state=seed, stratify=stratify
    )
    return (x_tr, y_tr), (x_te, y_te)


def _load_npz(path, seed):
    with np.load(path) as data:
        keys = set(data.files)
        if {"x_train", "y_train", "x_test", "y_test"} <= keys:
            return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
        if {"x", "y"} <= keys:
            return _split(data["x"], data["y"], seed)
    raise ValueError(
        "--dataset: an .npz file must hold x_train, y_train, x_test, y_test (or x "
        f"and y, split 80/20 here). Received: --dataset={path!r} with keys {sorted(keys)}"
    )


def _load_csv(path, label_column, seed):
    table = np.genfromtxt(path, delimiter=",", dtype="float32")
    if np.isnan(table[0]).all():  # a header row
        table = table[1:]
    if table.ndim != 2 or table.shape[1] < 2 or np.isnan(table).any():
        raise ValueError(
            "--dataset: a CSV file must be numeric rows of features and one label "
            f"column (a header row is allowed). Received: --dataset={path!r}"
        )
    y = table[:, label_column].astype("int64")
    x = np.delete(table, label_column % table.shape[1], axis=1)
    return _split(x, y, seed)


def _load_tfrecord(path, seed):
    import tensorflow as tf

    feature_spec = {
        "x": tf.io.VarLenFeature(tf.float32),
        "y": tf.io.FixedLenFeature([], tf.int64),
        "shape": tf.io.VarLenFeature(tf.int64),
    }
    xs, ys, shape = [], [], None
    for record in tf.data.TFRecordDataset(path):
        example = tf.io.parse_single_example(record, feature_spec)
        xs.append(tf.sparse.to_dense(example["x"]).numpy())
        ys.append(int(example["y"]))
        if shape is None:
            shape = tuple(tf.sparse.to_dense(example["shape"]).numpy().tolist()) or None
    if not xs:
        raise ValueError(f"--dataset: the TFRecord file is empty. Received: --dataset={path!r}")
    x = np.stack(xs).astype("float32")
    if shape:
        x = x.reshape((len(x), *shape))
    return _split(x, np.asarray(ys, "int64"), seed)


def load_dataset(dataset="digits", label_column=-1, seed=0):
    """Loads a classification dataset as numpy arrays.

    Args:
        dataset: ``"digits"`` (embedded, 8x8x1 images), or a path: ``.npz``
            (``x_train``/``y_train``/``x_test``/``y_test``, or ``x``/``y``),
            ``.csv`` (numeric features and a label column), ``.tfrecord``
            (``tf.train.Example`` with float list ``x``, int64 ``y`` and
            optional int64 list ``shape``). Files without a test split are
            split 80/20, stratified, with ``seed``. Defaults to ``"digits"``.
        label_column: the CSV label column. Defaults to -1 (the last).
        seed: split seed. Defaults to 0.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: float32 inputs, int labels.

    Raises:
        ValueError: for a missing or malformed file (naming ``--dataset``).

    Example:

    >>> (x, y), (xt, yt) = load_dataset()
    >>> x.shape, xt.shape
    ((1437, 8, 8, 1), (360, 8, 8, 1))
    """
    if dataset == "digits":
        from tfbig.data import load_digits

        return load_digits("train"), load_digits("test")
    if not os.path.isfile(dataset):
        raise ValueError(
            f"--dataset must be 'digits' or an existing file. Received: --dataset={dataset!r}"
        )
    if dataset.endswith(".npz"):
        train, test = _load_npz(dataset, seed)
    elif dataset.endswith(".csv"):
        train, test = _load_csv(dataset, label_column, seed)
    elif dataset.endswith((".tfrecord", ".tfrecords")):
        train, test = _load_tfrecord(dataset, seed)
    else:
        raise ValueError(
            "--dataset: unknown file type; use .npz, .csv or .tfrecord. "
            f"Received: --dataset={dataset!r}"
        )
    (x, y), (xt, yt) = train, test
    return (x.astype("float32"), y.astype("int64")), (xt.astype("float32"), yt.astype("int64"))
