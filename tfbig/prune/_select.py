"""Which layers to prune: names, classes, predicates, skips and a tfmot policy."""

from tfbig._backend import keras


def _as_list(spec):
    if spec is None:
        return None
    if isinstance(spec, (list, tuple, set, frozenset)):
        return list(spec)
    return [spec]


def _check_spec(arg, items):
    for item in items or ():
        if not (isinstance(item, str) or isinstance(item, type) or callable(item)):
            raise TypeError(
                f"`{arg}` takes layer names, layer classes or predicates `layer -> bool`. "
                f"Received: {arg} item {item!r}"
            )
        if isinstance(item, type) and not issubclass(item, keras.layers.Layer):
            raise TypeError(
                f"`{arg}` classes must be tf_keras layer classes. Received: {arg} item {item!r}"
            )


def _name_matches(name, layer, path):
    return name in (layer.name, path) or path.endswith("/" + name)


class Selector:
    """Decides for each prunable layer whether it is pruned; remembers which names matched."""

    def __init__(self, layers, skip, policy):
        self.layers = _as_list(layers)
        self.skip = _as_list(skip) or []
        _check_spec("layers", self.layers)
        _check_spec("skip", self.skip)
        self.policy = policy

    @staticmethod
    def _matches(item, layer, path):
        if isinstance(item, str):
            return _name_matches(item, layer, path)
        if isinstance(item, type):
            return isinstance(layer, item)
        return bool(item(layer))

    def selects(self, layer, path):
        if self.layers is not None and not any(self._matches(i, layer, path) for i in self.layers):
            return False
        if any(self._matches(i, layer, path) for i in self.skip):
            return False
        return self.policy is None or bool(self.policy.allow_pruning(layer))

    def matched_name(self, layer, path, names):
        for name in names:
            if _name_matches(name, layer, path):
                return name
        raise KeyError(path)

    def check_all_used(self, plan):
        """Raises ``ValueError`` for a name that matches no layer, or no prunable one."""
        for arg, items in (("layers", self.layers or []), ("skip", self.skip)):
            for name in (i for i in items if isinstance(i, str)):
                seen = [p for p in plan.seen if p == name or p.endswith("/" + name)]
                if not seen:
                    raise ValueError(
                        f"No layer named {name!r} in the model (`{arg}`). Layers that can "
                        f"be pruned: {plan.pruned + list(plan.left)}. Received: {arg}={items!r}"
                    )
                if arg == "layers" and not any(p in plan.pruned for p in seen):
                    raise ValueError(
                        f"Layer {name!r} has no weights tfbig can prune "
                        f"({plan.left.get(seen[0], 'no prunable weights')}); remove it from "
                        f"`{arg}`. Received: {arg}={items!r}"
                    )
