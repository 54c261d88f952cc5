"""The models :func:`tfbig.prune.magnitude` returns: their ``fit`` adds pruning's callback.

Three thin classes, one per kind of model the user gave, sharing one
``fit``: :class:`PrunedModel` (functional), :class:`PrunedSequential` and
:class:`PrunedSubclassedModel` (holds the pruned copy of a subclassed model).
All are registered, so ``keras.models.load_model`` restores them, mid-training
included, once ``tfbig.prune`` is imported; no scope is needed.
"""

from tfbig._backend import keras
from tfbig._backend import register_serializable
from tfbig.prune._composite import PrunedComposite
from tfbig.prune.callbacks import PruningCallback

__all__ = ["PrunedModel", "PrunedSequential", "PrunedSubclassedModel"]


class _PruningFit:
    """Mixin: ``fit`` always runs with a :class:`PruningCallback`."""

    prune_log_dir = None

    def fit(self, *args, callbacks=None, **kwargs):
        """``keras.Model.fit``, with :class:`PruningCallback` added when missing."""
        callbacks = list(callbacks or [])
        if not any(isinstance(c, PruningCallback) for c in callbacks):
            callbacks.append(PruningCallback(log_dir=self.prune_log_dir))
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def _prune_config(self, config):
        config["prune_log_dir"] = self.prune_log_dir
        return config


class _GraphPruningConfig:
    """Mixin for graph models: Keras' own config plus ``prune_log_dir``."""

    def get_config(self):
        return self._prune_config(super().get_config())

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        log_dir = config.pop("prune_log_dir", None)
        model = super().from_config(config, custom_objects=custom_objects)
        model.prune_log_dir = log_dir
        return model


@register_serializable()
class PrunedModel(_PruningFit, _GraphPruningConfig, keras.Model):
    """A functional model with pruning wrappers; ``fit`` adds :class:`PruningCallback`.

    Built like any functional model, ``PrunedModel(inputs, outputs)``; usually
    returned by :func:`tfbig.prune.magnitude`.

    Args:
        inputs: the model's input tensors.
        outputs: the model's output tensors.
        name: model name. Defaults to ``None``.
        trainable: whether the model is trainable. Defaults to ``True``.
        **kwargs: ``prune_log_dir`` (TensorBoard directory for sparsity
            summaries; defaults to ``None``) and the rest as for ``keras.Model``.

    Example:

    >>> from tfbig import keras
    >>> from tfbig.prune import PruneLowMagnitude
    >>> x = keras.Input((3,))
    >>> PrunedModel(x, PruneLowMagnitude(keras.layers.Dense(2))(x)).output_shape
    (None, 2)
    """

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        # The signature is Functional's, so that Keras saves and revives it as one.
        prune_log_dir = kwargs.pop("prune_log_dir", None)
        super().__init__(inputs, outputs, name=name, trainable=trainable, **kwargs)
        self.prune_log_dir = prune_log_dir


@register_serializable()
class PrunedSequential(_PruningFit, _GraphPruningConfig, keras.Sequential):
    """A Sequential model with pruning wrappers; ``fit`` adds :class:`PruningCallback`.

    Args:
        layers: the layers. Defaults to ``None``.
        name: model name. Defaults to ``None``.
        prune_log_dir: TensorBoard directory for sparsity summaries, or
            ``None``. Defaults to ``None``.

    Example:

    >>> from tfbig import keras
    >>> from tfbig.prune import PruneLowMagnitude
    >>> m = PrunedSequential([PruneLowMagnitude(keras.layers.Dense(2, input_shape=(3,)))])
    >>> m.output_shape
    (None, 2)
    """

    def __init__(self, layers=None, name=None, prune_log_dir=None):
        super().__init__(layers=layers, name=name)
        self.prune_log_dir = prune_log_dir


@register_serializable()
class PrunedSubclassedModel(_PruningFit, keras.Model):
    """Holds the pruned copy of a subclassed model; ``fit`` adds :class:`PruningCallback`.

    ``call`` is the copy's ``call``. :func:`tfbig.prune.strip` returns a plain
    instance of the user's own class. Saving in the ``.keras`` format needs the
    user's class registered serializable (as for any subclassed model); the
    SavedModel format does not; h5 does not take subclassed models.

    Args:
        model: the pruned copy, or a ``PrunedComposite`` holding it.
        prune_log_dir: TensorBoard directory for sparsity summaries, or
            ``None``. Defaults to ``None``.
        **kwargs: as for ``keras.Model`` (``name``...).

    Example:

    >>> from tfbig import keras
    >>> inner = keras.Sequential([keras.layers.Dense(2)])
    >>> PrunedSubclassedModel(inner)(keras.backend.ones((1, 3))).shape.as_list()
    [1, 2]
    """

    def __init__(self, model, prune_log_dir=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(model, PrunedComposite):
            model = PrunedComposite(model)
        self._prune_container = model
        self.prune_log_dir = prune_log_dir

    @property
    def inner(self):
        """The pruned copy of the user's model (an instance of the user's class)."""
        return self._prune_container.layer

    @property
    def _prune_inner(self):
        return self._prune_container.layer

    def call(self, inputs, *args, **kwargs):
        return self._prune_container(inputs, *args, **kwargs)

    def get_config(self):
        config = {"name": self.name, "model": keras.layers.serialize(self._prune_container)}
        return self._prune_config(config)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["model"] = keras.layers.deserialize(config["model"], custom_objects=custom_objects)
        return cls(**config)


# The h5 format records a model's class by its bare ``__name__`` (not the
# registered "tfbig>..." name); registering the bare names too lets h5 files
# load without custom_objects.
keras.utils.get_custom_objects().update(
    {cls.__name__: cls for cls in (PrunedModel, PrunedSequential, PrunedSubclassedModel)}
)
