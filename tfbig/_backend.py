"""The one place that decides which Keras tfbig speaks.

tfbig speaks **tf_keras** (Keras 2): tensorflow-model-optimization only accepts
tf_keras models, and tfbig builds on it. Every tfbig module takes ``keras`` from
here, and every public entry point that receives a model or layer passes it
through :func:`check_model` / :func:`check_layer`, so that a Keras 3 object
gives a clear ``TypeError`` instead of a confusing failure deep in tfmot.

Nothing here sets environment variables: a user who wants ``tf.keras`` to be
tf_keras sets ``TF_USE_LEGACY_KERAS=1`` before importing TensorFlow.
"""

import tf_keras as keras

__all__ = ["keras", "check_model", "check_layer", "is_keras3_object", "register_serializable"]

_KERAS3_FIX = (
    "tfbig speaks tf_keras (Keras 2), the Keras that tensorflow-model-optimization "
    "accepts. Build the model with `from tfbig import keras` (which is `tf_keras`), "
    "or set the environment variable TF_USE_LEGACY_KERAS=1 before importing "
    "TensorFlow so that `tf.keras` is tf_keras."
)


def is_keras3_object(obj):
    """Whether ``obj`` is an instance of a Keras 3 (``keras`` package) class."""
    for cls in type(obj).__mro__:
        module = getattr(cls, "__module__", "") or ""
        if module == "keras" or module.startswith("keras."):
            return True
    return False


def _describe(obj):
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def check_model(model, arg_name="model", allow_subclassed=True):
    """Returns ``model`` if it is a tf_keras ``Model``, else raises ``TypeError``.

    Args:
        model: the object to check.
        arg_name: the argument name used in the error message. Defaults to
            ``"model"``.
        allow_subclassed: whether subclassed models are accepted. Defaults to
            ``True``.

    Raises:
        TypeError: for a Keras 3 model, or anything that is not a tf_keras
            model (or a subclassed model when ``allow_subclassed=False``).

    Example:

    >>> from tfbig import keras
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    >>> check_model(m) is m
    True
    """
    if is_keras3_object(model):
        raise TypeError(
            f"`{arg_name}` is a Keras 3 object ({_describe(model)}). {_KERAS3_FIX} "
            f"Received: {arg_name}={model!r}"
        )
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`{arg_name}` must be a tf_keras `Model` (Sequential, functional or "
            f"subclassed). Received: {arg_name} of type {_describe(model)}"
        )
    if not allow_subclassed and not is_graph_network(model):
        raise TypeError(
            f"`{arg_name}` is a subclassed model ({_describe(model)}); this operation "
            "needs a Sequential or functional model whose layer graph can be read. "
            f"Received: {arg_name}={model.name!r}"
        )
    return model


def check_layer(layer, arg_name="layer"):
    """Returns ``layer`` if it is a tf_keras ``Layer``, else raises ``TypeError``."""
    if is_keras3_object(layer):
        raise TypeError(
            f"`{arg_name}` is a Keras 3 object ({_describe(layer)}). {_KERAS3_FIX} "
            f"Received: {arg_name}={layer!r}"
        )
    if not isinstance(layer, keras.layers.Layer):
        raise TypeError(
            f"`{arg_name}` must be a tf_keras `Layer`. "
            f"Received: {arg_name} of type {_describe(layer)}"
        )
    return layer


def is_graph_network(model):
    """Whether ``model`` is Sequential or functional (its layer graph is known)."""
    return bool(getattr(model, "_is_graph_network", False)) or isinstance(
        model, keras.Sequential
    )


def register_serializable(name=None):
    """Class decorator: registers a tfbig Keras object as serializable.

    Registered objects load with ``keras.models.load_model`` without any
    ``custom_objects`` or scope, once ``tfbig`` (the defining module) is imported.
    The registered name is ``"tfbig>ClassName"``.
    """
    return keras.saving.register_keras_serializable(package="tfbig", name=name)
