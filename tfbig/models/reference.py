"""Reference architectures used by the trainer, notebooks, tests and benchmarks.

All are tf_keras functional models over the embedded digits data by default
(8x8x1 images, 10 classes) and output **logits** (no softmax): compile them with
``SparseCategoricalCrossentropy(from_logits=True)``.
"""

from tfbig._backend import keras
from tfbig._backend import register_serializable

__all__ = ["cnn", "mlp", "transformer", "get_model", "MODELS", "PositionEmbedding"]


def _check_positive_ints(name, values):
    values = tuple(values)
    if not values or any(not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(
            f"`{name}` must be a non-empty sequence of positive integers. "
            f"Received: {name}={values!r}"
        )
    return values


def cnn(
    input_shape=(8, 8, 1),
    num_classes=10,
    filters=(32, 64, 64),
    dense_units=64,
    batch_norm=True,
    dropout=0.2,
    name="cnn",
):
    """A small VGG-style CNN: conv(-BN)-ReLU blocks, one max-pool, a dense head.

    Args:
        input_shape: image shape. Defaults to ``(8, 8, 1)``.
        num_classes: number of output logits. Defaults to 10.
        filters: output channels of each 3x3 conv block; a 2x2 max-pool follows
            the second block. Defaults to ``(32, 64, 64)``.
        dense_units: width of the hidden dense layer, or ``None`` for none.
            Defaults to 64.
        batch_norm: put a ``BatchNormalization`` after each conv.
            Defaults to ``True``.
        dropout: dropout rate before the classifier. Defaults to 0.2.
        name: model name. Defaults to ``"cnn"``.

    Returns:
        An uncompiled tf_keras functional model that outputs logits.

    Example:

    >>> model = cnn(filters=(8, 16), dense_units=None)
    >>> model.output_shape
    (None, 10)
    """
    filters = _check_positive_ints("filters", filters)
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(
            f, 3, padding="same", use_bias=not batch_norm, name=f"conv{i + 1}"
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = keras.layers.ReLU(name=f"relu{i + 1}")(x)
        if i == 1:
            x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu", name="fc")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def mlp(
    input_shape=(8, 8, 1),
    num_classes=10,
    hidden=(128, 64),
    dropout=0.1,
    name="mlp",
):
    """A multi-layer perceptron over flattened inputs.

    Args:
        input_shape: input shape. Defaults to ``(8, 8, 1)``.
        num_classes: number of output logits. Defaults to 10.
        hidden: widths of the hidden ReLU layers. Defaults to ``(128, 64)``.
        dropout: dropout rate after each hidden layer. Defaults to 0.1.
        name: model name. Defaults to ``"mlp"``.

    Returns:
        An uncompiled tf_keras functional model that outputs logits.

    Example:

    >>> mlp(hidden=(16,)).count_params()
    1210
    """
    hidden = _check_positive_ints("hidden", hidden)
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


@register_serializable()
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned position embedding to a ``(batch, length, dim)`` input.

    Args:
        initializer: initializer of the ``(length, dim)`` table.
            Defaults to ``"glorot_uniform"``.
    """

    def __init__(self, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(int(input_shape[-2]), int(input_shape[-1])),
            initializer=self.initializer,
        )
        super().build(input_shape)

    def call(self, inputs):
        return inputs + keras.backend.cast(self.embeddings, inputs.dtype)

    def get_config(self):
        config = super().get_config()
        config["initializer"] = keras.initializers.serialize(self.initializer)
        return config


def transformer(
    input_shape=(8, 8, 1),
    num_classes=10,
    num_layers=2,
    d_model=32,
    num_heads=4,
    ff_dim=64,
    dropout=0.1,
    name="transformer",
):
    """A small post-LN transformer encoder that reads an image row by row.

    Each image row is a token (8 tokens of 8 features for digits), projected to
    ``d_model``, plus a learned position embedding, through ``num_layers``
    blocks of MultiHeadAttention + residual ``Add`` + LayerNormalization and a
    GELU feed-forward + residual + LayerNormalization, then mean-pooled.

    Args:
        input_shape: ``(rows, cols)`` or ``(rows, cols, channels)``.
            Defaults to ``(8, 8, 1)``.
        num_classes: number of output logits. Defaults to 10.
        num_layers: encoder blocks. Defaults to 2.
        d_model: token width. Defaults to 32.
        num_heads: attention heads (``d_model`` divisible by it). Defaults to 4.
        ff_dim: hidden width of the feed-forward. Defaults to 64.
        dropout: dropout rate. Defaults to 0.1.
        name: model name. Defaults to ``"transformer"``.

    Returns:
        An uncompiled tf_keras functional model that outputs logits.

    Example:

    >>> transformer(num_layers=1).output_shape
    (None, 10)
    """
    if d_model % num_heads:
        raise ValueError(
            "`d_model` must be divisible by `num_heads`. "
            f"Received: d_model={d_model}, num_heads={num_heads}"
        )
    rows = int(input_shape[0])
    features = 1
    for dim in input_shape[1:]:
        features *= int(dim)
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Reshape((rows, features), name="to_tokens")(inputs)
    x = keras.layers.Dense(d_model, name="token_proj")(x)
    x = PositionEmbedding(name="pos_emb")(x)
    for i in range(num_layers):
        prefix = f"block{i + 1}"
        attn = keras.layers.MultiHeadAttention(
            num_heads, d_model // num_heads, dropout=dropout, name=f"{prefix}_mha"
        )(x, x)
        x = keras.layers.Add(name=f"{prefix}_add1")([x, attn])
        x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}_ln1")(x)
        h = keras.layers.Dense(ff_dim, activation="gelu", name=f"{prefix}_ff1")(x)
        h = keras.layers.Dense(d_model, name=f"{prefix}_ff2")(h)
        if dropout:
            h = keras.layers.Dropout(dropout, name=f"{prefix}_drop")(h)
        x = keras.layers.Add(name=f"{prefix}_add2")([x, h])
        x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}_ln2")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


MODELS = {"cnn": cnn, "mlp": mlp, "transformer": transformer}


def get_model(name, **kwargs):
    """Builds a reference model by name (``"cnn"``, ``"mlp"``, ``"transformer"``).

    Example:

    >>> get_model("mlp", hidden=(8,)).name
    'mlp'
    """
    if name not in MODELS:
        raise ValueError(
            f"Unknown model {name!r}; expected one of {sorted(MODELS)}. "
            f"Received: name={name!r}"
        )
    return MODELS[name](**kwargs)
