"""A container that lets a pruned subclassed model or composite layer be saved.

A subclassed model (or a layer made of sublayers) re-creates its sublayers
from its own ``get_config``: loading it would bring plain sublayers back where
pruning put wrappers, and the saved weights would not fit. ``PrunedComposite``
records which attributes were replaced and saves those replacements, so
``load_model`` rebuilds the same structure with no scope.
"""

from tfbig._backend import keras
from tfbig._backend import register_serializable


def get_by_path(layer, path):
    for attr, index in path:
        layer = getattr(layer, attr) if index is None else getattr(layer, attr)[index]
    return layer


def set_child(parent, attr, index, value):
    """Sets ``parent.attr`` (``index`` None) or item ``index`` of the list ``parent.attr``."""
    if index is None:
        setattr(parent, attr, value)
    else:  # a new list: TF cannot checkpoint a list whose items were replaced
        items = list(getattr(parent, attr))
        items[index] = value
        setattr(parent, attr, items)


def set_by_path(layer, path, value):
    attr, index = path[-1]
    set_child(get_by_path(layer, path[:-1]), attr, index, value)


@register_serializable()
class PrunedComposite(keras.layers.Wrapper):
    """Holds a subclassed model or composite layer whose sublayers were replaced.

    Args:
        layer: the layer (with pruning wrappers set on some attributes).
        replaced: the attribute paths that hold replacements, each a list of
            ``[attribute, index or None]`` steps. Defaults to ``()``.
        **kwargs: passed to ``keras.layers.Wrapper``; the name defaults to
            the layer's.

    Example:

    >>> from tfbig import keras
    >>> PrunedComposite(keras.layers.Dense(2, name="d")).name
    'd'
    """

    def __init__(self, layer, replaced=(), **kwargs):
        kwargs.setdefault("name", layer.name)
        super().__init__(layer, **kwargs)
        self.replaced = [[tuple(step) for step in path] for path in replaced]

    def call(self, inputs, *args, **kwargs):
        return self.layer(inputs, *args, **kwargs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config["replaced"] = [
            {"path": [list(step) for step in path],
             "layer": keras.layers.serialize(get_by_path(self.layer, path))}
            for path in self.replaced
        ]
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer = keras.layers.deserialize(config.pop("layer"), custom_objects=custom_objects)
        paths = []
        for entry in config.pop("replaced", []):
            path = [tuple(step) for step in entry["path"]]
            set_by_path(layer, path,
                        keras.layers.deserialize(entry["layer"], custom_objects=custom_objects))
            paths.append(path)
        return cls(layer, replaced=paths, **config)
