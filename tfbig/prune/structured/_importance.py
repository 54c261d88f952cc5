"""Channel importance: L1, L2, BatchNorm scale and first-order Taylor scores.

A component's score adds up, over every layer that owns a weight slice of it
(the producer's filters, a consumer's input rows, attention head projections),
the chosen norm of that slice: the "group norm" of Torch-Pruning. ``"bn"``
uses only BatchNormalization gammas (groups without one fall back to L1).
``"taylor"`` replaces each weight by ``|w * dL/dw|`` with the gradient summed
over a few batches.
"""

import numpy as np

CRITERIA = ("l1", "l2", "bn", "taylor")


def _target_map(graph, name, entry, target):
    if target == "out":
        return entry["outputs"][0]
    if target == "in":
        return entry["inputs"][0]
    if target == "head":
        return graph._owned.get((name, "head"))
    return entry["inputs"][target[1]]


def atom_scores(graph, criterion, grads=None):
    """Per-atom scores and whether each atom has a BN scale; numpy arrays."""
    n = len(graph.parent)
    score = np.zeros(n)
    has_scale = np.zeros(n, dtype=bool)
    for name, entry in graph.layers.items():
        surgeon = entry["surgeon"]
        if surgeon is None:
            continue
        for s in surgeon.slices(entry["layer"], entry["state"]):
            amap = _target_map(graph, name, entry, s.target)
            if amap is None or s.kind not in ("weight", "scale"):
                continue
            w = s.variable.numpy()
            if len(amap) != w.shape[s.axis]:
                continue
            valid = amap >= 0
            if s.kind == "scale":
                has_scale[amap[valid]] = True
            if (criterion == "bn") != (s.kind == "scale"):
                continue
            if criterion == "taylor":
                w = w * grads[id(s.variable)]
            rows = np.moveaxis(w, s.axis, 0).reshape(w.shape[s.axis], -1)
            contrib = (rows**2).sum(1) if criterion == "l2" else np.abs(rows).sum(1)
            np.add.at(score, amap[valid], contrib[valid])
    return score, has_scale


def taylor_gradients(model, data, loss, batches):
    """Sums the loss gradient of every trainable weight over ``batches`` batches.

    Returns:
        A dict ``id(variable) -> numpy gradient`` (zeros for unused weights).
    """
    import tensorflow as tf

    from tfbig._backend import keras

    loss_fn = keras.losses.get(loss) if isinstance(loss, str) else loss
    if isinstance(data, tuple):
        data = tf.data.Dataset.from_tensor_slices(data).batch(32)
    variables = model.trainable_weights
    total = [np.zeros(v.shape, dtype=np.float64) for v in variables]
    for x, y in data.take(batches):
        with tf.GradientTape() as tape:
            value = loss_fn(y, model(x, training=False))
        for i, g in enumerate(tape.gradient(value, variables)):
            if g is not None:
                total[i] += tf.convert_to_tensor(g).numpy()
    return {id(v): g for v, g in zip(variables, total)}


def component_scores(graph, roots, criterion, grads=None):
    """Per-component score, indexed by root atom id (numpy array over atoms).

    Returns:
        ``(scores, has_scale)``: each an array over atom ids where only the
        entries of root atoms are meaningful.
    """
    score, has_scale = atom_scores(graph, criterion, grads)
    n = len(roots)
    comp = np.bincount(roots, weights=score, minlength=n)
    comp_scale = np.bincount(roots, weights=has_scale.astype(float), minlength=n) > 0
    if criterion == "l2":
        comp = np.sqrt(comp)
    if criterion == "bn":
        l1, _ = atom_scores(graph, "l1")
        fallback = np.bincount(roots, weights=l1, minlength=n)
        comp = np.where(comp_scale, comp, fallback)
    return comp, comp_scale
