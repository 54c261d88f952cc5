"""Reading intermediate values out of any tf_keras model while it runs.

A *tap* names a value a distillation loss needs: the model's output, a named
layer's output, or the attention probabilities of a named MultiHeadAttention
layer. :func:`forward` runs a model once and returns its output plus the tapped
values.

How: for the duration of one forward pass, the named layers' ``call`` (for
attention: ``_compute_attention``) is wrapped (on the instance, never the
class) by a recorder. Keras layers are
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
    """Installs one recorder per (layer, method), ref-counted, and routes its
    records to the thread that asked for them.

    Layer outputs are read by wrapping ``call``; attention probabilities by
    wrapping ``MultiHeadAttention._compute_attention`` (tf_keras' documented
    override point, which returns ``(output, probabilities)``; subclasses such
    as tfbig's quantizable attention keep it), so the model does not need to
    ask for ``return_attention_scores``.
    """

    _METHODS = {LAYER: "call", ATTENTION: "_compute_attention"}

    def __init__(self):
        self._lock = threading.Lock()
        self._installed = {}  # (id(layer), method) -> [layer, count]
        self._local = threading.local()

    def active(self):
        return getattr(self._local, "requests", None)

    def install(self, layer, kind):
        method = self._METHODS[kind]
        with self._lock:
            entry = self._installed.get((id(layer), method))
            if entry is None:
                original = getattr(layer, method)
                object.__setattr__(layer, method, self._recorder(layer, kind, original))
                self._installed[(id(layer), method)] = [layer, 1]
            else:
                entry[1] += 1

    def uninstall(self, layer, kind):
        method = self._METHODS[kind]
        with self._lock:
            entry = self._installed[(id(layer), method)]
            entry[1] -= 1
            if entry[1] == 0:
                object.__delattr__(layer, method)
                del self._installed[(id(layer), method)]

    def _recorder(self, layer, kind, original):
        key = (kind, id(layer))

        @functools.wraps(original)
        def recorder(*args, **kwargs):
            outputs = original(*args, **kwargs)
            requests = self.active()
            if requests and key in requests:
                self._local.records[key] = outputs[1] if kind == ATTENTION else outputs
            return outputs

        return recorder

    @contextlib.contextmanager
    def recording(self, wanted):
        """Records the given ``[(kind, layer)]`` in this thread."""
        if self.active() is not None:
            raise RuntimeError("tfbig.distill taps cannot be nested.")
        for kind, layer in wanted:
            self.install(layer, kind)
        self._local.requests = {(kind, id(layer)) for kind, layer in wanted}
        self._local.records = {}
        try:
            yield self._local.records
        finally:
            self._local.requests = None
            self._local.records = None
            for kind, layer in wanted:
                self.uninstall(layer, kind)


_REGISTRY = _Registry()


def resolve(model, taps, role):
    """Maps each tap to its layer object (``None`` for the model output).

    For attention, a wrapper (tfmot pruning/quantization) named by the user
    resolves to the ``MultiHeadAttention`` it wraps.
    """
    layers = []
    for tap in taps:
        if tap.kind not in _KINDS:
            raise ValueError(
                f"A tap kind must be one of {_KINDS}. Received: kind={tap.kind!r}"
            )
        if tap.kind == OUTPUT:
            layers.append(None)
            continue
        layer = find_layer(model, tap.layer, role, f"{role}_layer")
        inner = getattr(layer, "layer", None)
        if tap.kind == ATTENTION and isinstance(inner, keras.layers.MultiHeadAttention):
            layer = inner
        layers.append(layer)
    return layers


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
    wanted = list(
        dict.fromkeys(
            (tap.kind, layer) for tap, layer in zip(taps, layers) if layer is not None
        )
    )
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
