"""Reading intermediate values out of any tf_keras model while it runs.

A *tap* names a value a distillation loss needs: the model's output, a named
layer's output, or the attention probabilities of a named MultiHeadAttention
layer. :func:`forward` runs a model once and returns its output plus the tapped
values.

How: for the duration of one forward pass, the named layers' ``call`` is
wrapped (on the instance, never the class) by a recorder. Keras layers are
invoked through ``layer.call`` by ``Layer.__call__``, by Functional and
Sequential models, by subclassed models and by tfmot's pruning and
quantization wrappers (``self.layer.call``), so one mechanism reaches
intermediate values of Sequential, functional, subclassed and wrapped models
alike. The wrapper is installed under a lock with a reference count and records
into thread-local storage, because MirroredStrategy traces the replicas in
parallel threads. Inside ``tf.function`` it only acts while Python traces, so it
costs nothing per step.
"""

import collections
import contextlib
import functools
import inspect
import threading

from tfbig._backend import keras

OUTPUT = "output"
LAYER = "layer"
ATTENTION = "attention"
_KINDS = (OUTPUT, LAYER, ATTENTION)

Tap = collections.namedtuple("Tap", ["kind", "layer"])
Tap.__doc__ = "A value to read from a model: ``kind`` in output/layer/attention."


def find_layer(model, name, role, arg_name):
    """The unique layer called ``name`` anywhere inside ``model``.

    Searches nested models and the layers held by wrappers (tfmot pruning and
    quantization wrappers), so both ``"dense1"`` and ``"prune_low_magnitude_dense1"``
    resolve in a pruned model.

    Raises:
        ValueError: no layer, or several layers, carry that name.
    """
    found = [
        m
        for m in model.submodules
        if isinstance(m, keras.layers.Layer) and m.name == name
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        names = sorted(
            {m.name for m in model.submodules if isinstance(m, keras.layers.Layer)}
        )
        raise ValueError(
            f"The {role} model {model.name!r} has no layer named {name!r}. "
            f"Pass one of its layer names: {names}. Received: {arg_name}={name!r}"
        )
    raise ValueError(
        f"The {role} model {model.name!r} has {len(found)} layers named {name!r}; "
        "give the layer you mean a unique name. "
        f"Received: {arg_name}={name!r}"
    )


def check_attention_layer(layer, role, arg_name):
    if not isinstance(layer, keras.layers.MultiHeadAttention):
        raise ValueError(
            f"Attention transfer needs a `MultiHeadAttention` layer, but the {role} "
            f"layer {layer.name!r} is a {type(layer).__name__}. "
            f"Received: {arg_name}={layer.name!r}"
        )


class _Registry:
    """Installs one recorder per layer (ref-counted) and routes its records to
    the thread that asked for them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._installed = {}  # id(layer) -> [layer, count]
        self._local = threading.local()

    def active(self):
        return getattr(self._local, "requests", None)

    def install(self, layer):
        with self._lock:
            entry = self._installed.get(id(layer))
            if entry is None:
                original = layer.call
                object.__setattr__(layer, "call", self._recorder(layer, original))
                self._installed[id(layer)] = [layer, 1]
            else:
                entry[1] += 1

    def uninstall(self, layer):
        with self._lock:
            entry = self._installed[id(layer)]
            entry[1] -= 1
            if entry[1] == 0:
                object.__delattr__(layer, "call")
                del self._installed[id(layer)]

    def _recorder(self, layer, original):
        signature = inspect.signature(original)

        @functools.wraps(original)
        def call(*args, **kwargs):
            requests = self.active()
            kinds = requests.get(id(layer)) if requests else None
            if not kinds:
                return original(*args, **kwargs)
            if ATTENTION not in kinds:
                outputs = original(*args, **kwargs)
                self._local.records[(LAYER, id(layer))] = outputs
                return outputs
            bound = signature.bind(*args, **kwargs)
            wanted = bound.arguments.get("return_attention_scores", False)
            bound.arguments["return_attention_scores"] = True
            outputs, scores = original(*bound.args, **bound.kwargs)
            self._local.records[(ATTENTION, id(layer))] = scores
            self._local.records[(LAYER, id(layer))] = outputs
            return (outputs, scores) if wanted else outputs

        return call

    @contextlib.contextmanager
    def recording(self, layers_and_kinds):
        """Records the given ``{layer: set(kinds)}`` in this thread."""
        if self.active() is not None:
            raise RuntimeError("tfbig.distill taps cannot be nested.")
        layers = list(layers_and_kinds)
        for layer in layers:
            self.install(layer)
        self._local.requests = {id(k): v for k, v in layers_and_kinds.items()}
        self._local.records = {}
        try:
            yield self._local.records
        finally:
            self._local.requests = None
            self._local.records = None
            for layer in layers:
                self.uninstall(layer)


_REGISTRY = _Registry()


def resolve(model, taps, role):
    """Maps each tap to its layer object (``None`` for the model output)."""
    return [
        None if tap.kind == OUTPUT else find_layer(model, tap.layer, role, f"{role}_layer")
        for tap in taps
    ]


def forward(model, inputs, taps, layers, training, role):
    """Runs ``model(inputs, training=training)`` and returns ``(output, values)``.

    Args:
        model: a tf_keras model.
        inputs: its inputs.
        taps: a list of :class:`Tap`.
        layers: the matching list from :func:`resolve`.
        training: passed to the model.
        role: ``"teacher"`` or ``"student"``, for error messages.

    Returns:
        The model output and a list with one tensor per tap.

    Raises:
        ValueError: a tapped layer was not called during the forward pass.
    """
    wanted = {}
    for tap, layer in zip(taps, layers):
        if layer is not None:
            wanted.setdefault(layer, set()).add(tap.kind)
    with _REGISTRY.recording(wanted) as records:
        output = model(inputs, training=training)
        values = []
        for tap, layer in zip(taps, layers):
            if layer is None:
                values.append(output)
                continue
            key = (tap.kind, id(layer))
            if key not in records:
                raise ValueError(
                    f"Layer {layer.name!r} of the {role} model {model.name!r} was not "
                    "called during its forward pass, so its output cannot be read. "
                    "In a subclassed model, compute the value you want to match in a "
                    "named Keras layer that `call` invokes (not with raw TF ops). "
                    f"Received: {role}_layer={layer.name!r}"
                )
            values.append(records[key])
    return output, values
