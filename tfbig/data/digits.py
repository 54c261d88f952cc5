"""The embedded default dataset: scikit-learn's handwritten digits.

1,797 real 8x8 grey-scale images of the digits 0-9 (UCI ML hand-written digits),
shipped inside scikit-learn, so nothing is downloaded at run time. tfbig splits
them once, stratified and with a fixed seed, into train (1,437) and test (360).
"""

import functools

import numpy as np

__all__ = ["load_digits", "digits_dataset", "NUM_CLASSES", "IMAGE_SHAPE"]

NUM_CLASSES = 10
IMAGE_SHAPE = (8, 8, 1)
_SPLITS = ("train", "test", "all")
_TEST_FRACTION = 0.2
_SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def _load_all():
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = (bunch.images.astype("float32") / 16.0).reshape((-1,) + IMAGE_SHAPE)
    y = bunch.target.astype("int32")
    return x, y


@functools.lru_cache(maxsize=1)
def _split_indices():
    from sklearn.model_selection import train_test_split

    _, y = _load_all()
    idx = np.arange(len(y))
    train_idx, test_idx = train_test_split(
        idx, test_size=_TEST_FRACTION, random_state=_SPLIT_SEED, stratify=y
    )
    return np.sort(train_idx), np.sort(test_idx)


def load_digits(split="train", flatten=False):
    """Returns ``(x, y)`` numpy arrays of the embedded digits data.

    Args:
        split: ``"train"`` (1,437 images), ``"test"`` (360) or ``"all"``
            (1,797). The split is stratified and fixed. Defaults to ``"train"``.
        flatten: return ``x`` as ``(N, 64)`` instead of ``(N, 8, 8, 1)``.
            Defaults to ``False``.

    Returns:
        ``x`` as float32 in ``[0, 1]`` and ``y`` as int32 class ids in ``[0, 9]``.

    Raises:
        ValueError: for an unknown ``split``.

    Example:

    >>> x, y = load_digits("test")
    >>> x.shape, y.shape, x.dtype.name
    ((360, 8, 8, 1), (360,), 'float32')
    """
    if split not in _SPLITS:
        raise ValueError(
            f"`split` must be one of {_SPLITS}. Received: split={split!r}"
        )
    x, y = _load_all()
    if split != "all":
        train_idx, test_idx = _split_indices()
        idx = train_idx if split == "train" else test_idx
        x, y = x[idx], y[idx]
    if flatten:
        x = x.reshape((len(x), -1))
    return x.copy(), y.copy()


def digits_dataset(
    split="train",
    batch_size=32,
    shuffle=None,
    seed=0,
    flatten=False,
    drop_remainder=False,
    repeat=False,
):
    """Returns the embedded digits data as a batched ``tf.data.Dataset``.

    Args:
        split: ``"train"``, ``"test"`` or ``"all"``. Defaults to ``"train"``.
        batch_size: examples per batch (the *global* batch under a strategy).
            Defaults to 32.
        shuffle: shuffle each epoch; defaults to ``True`` for ``"train"`` only.
        seed: shuffle seed. Defaults to 0.
        flatten: yield ``(batch, 64)`` features instead of images.
            Defaults to ``False``.
        drop_remainder: drop the last partial batch. Defaults to ``False``.
        repeat: repeat forever (use with ``steps_per_epoch``).
            Defaults to ``False``.

    Returns:
        A ``tf.data.Dataset`` of ``(x, y)`` batches.

    Example:

    >>> ds = digits_dataset("test", batch_size=100)
    >>> [int(x.shape[0]) for x, _ in ds]
    [100, 100, 100, 60]
    """
    import tensorflow as tf

    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}"
        )
    x, y = load_digits(split, flatten=flatten)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle is None:
        shuffle = split == "train"
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(
        tf.data.AUTOTUNE
    )
