"""Surgery: rebuilds a smaller model from per-layer cuts, copying kept weights."""

import numpy as np

from tfbig._backend import keras
from tfbig.prune.structured import _blocks


def _new_config(layer, cut, surgeon):
    if cut is None or surgeon is None or not cut.changed:
        return layer.get_config()
    return surgeon.config(layer, cut)


def rebuild(model, entries, cuts, copy_weights=True, dropped=()):
    """Returns a new model with each layer's config (and weights) cut.

    Args:
        model: the source model (unchanged).
        entries: the graph's ``{layer name: entry}`` (layer, surgeon, state).
        cuts: ``{layer name: Cut}``.
        copy_weights: copy the kept weights (else the new layers keep their
            fresh initial values).
        dropped: names of layers to leave out (removed residual branches).
    """

    def clone(layer):
        entry = entries.get(layer.name)
        surgeon = entry["surgeon"] if entry else None
        config = _new_config(layer, cuts.get(layer.name), surgeon)
        return layer.__class__.from_config(config)

    if dropped:
        new = _blocks.rebuild_without(model, clone, set(dropped))
    else:
        new = keras.models.clone_model(model, clone_function=clone)
    if copy_weights:
        kept = {layer.name for layer in new.layers}
        for layer in model.layers:
            if not layer.weights or layer.name not in kept:
                continue
            cut = cuts.get(layer.name)
            entry = entries.get(layer.name)
            if cut is not None and cut.changed and entry and entry["surgeon"]:
                values = entry["surgeon"].weights(layer, cut)
            else:
                values = layer.get_weights()
            new.get_layer(layer.name).set_weights(values)
    return new


def zero_masks(entries, cuts, dropped=()):
    """Per-variable 0/1 masks that zero the removed channels in place.

    Returns:
        A list of ``(variable, mask)``; ``variable * mask`` zeroes every
        weight, bias, BatchNorm gamma/beta and head projection of a removed
        channel, so that the channel outputs exactly zero; every trainable
        weight of a ``dropped`` layer is zeroed, so a removed branch adds zero.
    """
    out = {}
    for name in dropped:
        for variable in entries[name]["layer"].trainable_weights:
            out[id(variable)] = (variable, np.zeros(variable.shape, dtype=np.float32))
    for name, cut in cuts.items():
        entry = entries[name]
        if not cut.changed or entry["surgeon"] is None or name in dropped:
            continue
        for s in entry["surgeon"].slices(entry["layer"], entry["state"]):
            if s.kind == "stat":
                continue
            keep = cut.mask(s.target)
            if keep is None or len(keep) != s.variable.shape[s.axis] or keep.all():
                continue
            var_id = id(s.variable)
            if var_id not in out:
                out[var_id] = (s.variable, np.ones(s.variable.shape, dtype=np.float32))
            shape = [1] * len(s.variable.shape)
            shape[s.axis] = len(keep)
            out[var_id][1][...] *= keep.reshape(shape).astype(np.float32)
    return list(out.values())
