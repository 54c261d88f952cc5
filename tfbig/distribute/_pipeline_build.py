"""Planning a pipeline and building its placed copy of the model.

``make_plan`` chooses the stages (at user cuts, or balanced by parameter bytes
or by measured layer time); ``build_stages`` clones the model layer by layer
with each layer created and built under its stage's ``tf.device`` (so its
variables live there), copies the weights, and returns the unpartitioned copy
plus one functional view per stage that shares its layers.
"""

import dataclasses
import statistics
import time

import numpy as np
import tensorflow as tf

from tfbig._backend import keras
from tfbig.distribute._pipeline_graph import partition
from tfbig.distribute._pipeline_plan import PipelinePlan
from tfbig.distribute._pipeline_plan import StagePlan

__all__ = ["resolve_devices", "make_plan", "build_stages", "Stage"]

_BALANCES = ("params", "time")


def resolve_devices(devices):
    """Canonical device names from a list of names or a count."""
    if devices is None or isinstance(devices, int):
        kind = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
        available = [d.name for d in tf.config.list_logical_devices(kind)]
        count = len(available) if devices is None else devices
        if isinstance(count, bool) or count < 1 or count > len(available):
            raise ValueError(
                f"`devices` asks for {count} {kind} device(s) but {len(available)} "
                "exist; pass a smaller number, a list of device names, or split the "
                "device with `tfbig.distribute.set_logical_devices` at program start. "
                f"Received: devices={devices!r}"
            )
        devices = available[:count]
    if isinstance(devices, str) or not devices:
        raise ValueError(
            "`devices` must be a non-empty list of device names (one per stage) or "
            f"a number of devices. Received: devices={devices!r}"
        )
    local = {tf.DeviceSpec.from_string(d.name).to_string()
             for d in tf.config.list_logical_devices()}
    result = []
    for d in devices:
        spec = tf.DeviceSpec.from_string(str(d))
        if spec.device_type is None:
            raise ValueError(
                "Each device must name a device type and index, such as "
                f"'/device:GPU:0' or '/cpu:1'. Received: devices={devices!r}"
            )
        index = spec.device_index or 0
        short = tf.DeviceSpec(device_type=spec.device_type.upper(), device_index=index)
        if spec.job in (None, "localhost"):
            if short.to_string() not in local:
                raise ValueError(
                    f"Device {d!r} does not exist here; the logical devices are "
                    f"{sorted(local)}. Received: devices={devices!r}"
                )
            spec = short
        else:
            spec = spec.replace(device_index=index)
        result.append(spec.to_string())
    return result


def _layer_bytes(layer):
    count = sum(int(np.prod(w.shape)) for w in layer.weights)
    size = sum(int(np.prod(w.shape)) * w.dtype.size for w in layer.weights)
    return count, size


def _sample_inputs(model, batch_size):
    flat = []
    for t in tf.nest.flatten(model._nested_inputs):
        shape = [batch_size] + [d if d is not None else 1 for d in t.shape[1:]]
        if t.dtype.is_floating:
            flat.append(tf.random.stateless_normal(shape, seed=(1, 2), dtype=t.dtype))
        else:
            flat.append(tf.zeros(shape, dtype=t.dtype))
    return flat


def _measure_times(model, graph, sample_inputs, repeats=3):
    """Median eager forward time of every node on a sample batch."""
    if sample_inputs is None:
        flat = _sample_inputs(model, 32)
    else:
        flat = [tf.convert_to_tensor(t) for t in tf.nest.flatten(sample_inputs)]
    values = dict(zip(graph.input_ids, flat))
    times = []
    for gn in graph.nodes:
        args, kwargs = _map_args(gn.node, values)
        gn.layer(*args, **kwargs)  # warm-up
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            outs = gn.layer(*args, **kwargs)
            for t in tf.nest.flatten(outs):
                if hasattr(t, "numpy"):
                    t.numpy()  # waits for the result
            samples.append(time.perf_counter() - start)
        times.append(statistics.median(samples))
        values.update(zip(gn.output_ids, tf.nest.flatten(outs)))
    return times


def _map_args(node, values):
    """The (args, kwargs) of a Keras node with its tensors replaced by ``values``."""

    def lookup(obj):
        # Keys are ids of the graph's (alive) KerasTensors, so no other object matches.
        return values.get(str(id(obj)), obj)

    args = tf.nest.map_structure(lookup, node.call_args)
    kwargs = tf.nest.map_structure(lookup, node.call_kwargs)
    return args, kwargs


def _cut_positions(graph, cuts):
    names = {}
    for pos, gn in enumerate(graph.nodes):
        names[gn.layer.name] = pos + 1  # cut after the layer's (last) call
    positions = []
    for name in cuts:
        if name not in names:
            known = [gn.layer.name for gn in graph.nodes]
            shown = known if len(known) <= 30 else known[:30] + ["..."]
            raise ValueError(
                f"`cuts` names a layer {name!r} that is not in the model; a cut is the "
                f"name of the last layer of a stage, one of {shown}. Received: cuts={cuts!r}"
            )
        pos = names[name]
        problem = graph.cut_problem(pos)
        if problem is not None:
            valid = [graph.nodes[c - 1].layer.name for c in graph.valid_cuts()]
            raise ValueError(
                f"Cannot cut after layer {name!r}: {problem}. Valid cuts are after one "
                f"of {valid}. Received: cuts={cuts!r}"
            )
        positions.append(pos)
    if len(set(positions)) != len(positions):
        raise ValueError(f"`cuts` repeats a layer. Received: cuts={cuts!r}")
    return sorted(positions)


def make_plan(model, graph, devices, num_microbatches, cuts, balance, sample_inputs):
    """Chooses the stage boundaries and describes them as a ``PipelinePlan``."""
    num_layers = len(graph.nodes)
    if cuts is not None:
        positions = _cut_positions(graph, list(cuts))
        if len(positions) + 1 != len(devices):
            raise ValueError(
                f"{len(positions)} cut(s) make {len(positions) + 1} stages but "
                f"{len(devices)} device(s) were given; pass one device per stage. "
                f"Received: cuts={list(cuts)!r}, devices={devices!r}"
            )
        costs, balance = [_layer_bytes(gn.layer)[1] for gn in graph.nodes], "cuts"
    else:
        if balance not in _BALANCES:
            raise ValueError(
                f"`balance` must be one of {_BALANCES}. Received: balance={balance!r}"
            )
        if len(devices) > num_layers:
            raise ValueError(
                f"Cannot make {len(devices)} stages from a model with {num_layers} "
                "layer call(s): each stage needs at least one layer. Use fewer devices. "
                f"Received: devices={devices!r}"
            )
        if balance == "time":
            costs = _measure_times(model, graph, sample_inputs)
        else:
            costs = [_layer_bytes(gn.layer)[1] if _first_call(graph, i) else 0
                     for i, gn in enumerate(graph.nodes)]
        valid = graph.valid_cuts()
        positions = partition(costs, len(devices), valid)
        if positions is None:
            names = [graph.nodes[c - 1].layer.name for c in valid]
            raise ValueError(
                f"Cannot cut model {model.name!r} into {len(devices)} stages: it can be "
                f"cut only after {names} ({len(valid) + 1} stages at most; skip "
                "connections cannot be cut). Use fewer devices. "
                f"Received: devices={devices!r}"
            )
    return _describe(graph, devices, num_microbatches, positions, costs, balance)


def _first_call(graph, pos):
    layer = graph.nodes[pos].layer
    return all(gn.layer is not layer for gn in graph.nodes[:pos])


def _describe(graph, devices, num_microbatches, positions, costs, balance):
    bounds = [0] + list(positions) + [len(graph.nodes)]
    stages = []
    for k in range(len(bounds) - 1):
        start, stop = bounds[k], bounds[k + 1]
        layers = []
        for gn in graph.nodes[start:stop]:
            if gn.layer.name not in layers:
                layers.append(gn.layer.name)
        sizes = [_layer_bytes(graph.nodes[p].layer) for p in range(start, stop)
                 if _first_call(graph, p)]
        inputs, _ = graph.stage_io(start, stop)
        stages.append(StagePlan(
            index=k, device=devices[k], layers=tuple(layers),
            num_params=sum(s[0] for s in sizes), param_bytes=sum(s[1] for s in sizes),
            cost=float(sum(costs[start:stop])),
            receives=tuple(graph.tensor_name(t) for t in inputs),
        ))
    return PipelinePlan(stages=tuple(stages), num_microbatches=num_microbatches,
                        balance=balance)


@dataclasses.dataclass
class Stage:
    """A built stage: its device, functional view, and tensor ids in/out."""

    device: str
    model: object
    input_ids: list
    output_ids: list


def build_stages(model, graph, plan):
    """Clones ``model`` onto the plan's devices.

    Returns:
        ``(unpartitioned, stages)``: an ordinary model of the same kind and
        layer names holding the placed, weight-copied layers, and one
        :class:`Stage` per plan stage whose functional view shares them.
    """
    stage_of = []
    for s in plan.stages:
        stage_of.extend([s.index] * _count_nodes(graph, s))
    new_inputs = {}
    for tid in graph.input_ids:
        t = graph.tensors[tid]
        new_inputs[tid] = keras.Input(type_spec=t.type_spec, name=t._keras_history.layer.name)
    values = dict(new_inputs)
    clones = {}
    for pos, gn in enumerate(graph.nodes):
        with tf.device(plan.stages[stage_of[pos]].device):
            layer = clones.get(id(gn.layer))
            if layer is None:
                layer = gn.layer.__class__.from_config(gn.layer.get_config())
                clones[id(gn.layer)] = layer
            args, kwargs = _map_args(gn.node, values)
            outs = layer(*args, **kwargs)
        values.update(zip(gn.output_ids, tf.nest.flatten(outs)))
    for gn in graph.nodes:
        clones[id(gn.layer)].set_weights(gn.layer.get_weights())
    unpartitioned = _rebuild(model, graph, clones, new_inputs, values)
    stages, start = [], 0
    for s in plan.stages:
        stop = start + _count_nodes(graph, s)
        stages.append(_stage_view(graph, clones, start, stop, s))
        start = stop
    return unpartitioned, stages


def _count_nodes(graph, stage_plan):
    names = set(stage_plan.layers)
    return sum(1 for gn in graph.nodes if gn.layer.name in names)


def _rebuild(model, graph, clones, new_inputs, values):
    if isinstance(model, keras.Sequential):
        (tid,) = graph.input_ids
        layers = [new_inputs[tid]._keras_history.layer] + [clones[id(l)] for l in model.layers]
        return keras.Sequential(layers, name=model.name)
    inputs = tf.nest.map_structure(
        lambda t: new_inputs[str(id(t))], model._nested_inputs
    )
    outputs = tf.nest.map_structure(lambda t: values[str(id(t))], model._nested_outputs)
    return keras.Model(inputs, outputs, name=model.name)


def _stage_view(graph, clones, start, stop, stage_plan):
    input_ids, output_ids = graph.stage_io(start, stop)
    inputs = [
        keras.Input(type_spec=graph.tensors[t].type_spec, name=f"stage{stage_plan.index}_in{i}")
        for i, t in enumerate(input_ids)
    ]
    values = dict(zip(input_ids, inputs))
    with tf.device(stage_plan.device):
        for gn in graph.nodes[start:stop]:
            args, kwargs = _map_args(gn.node, values)
            outs = clones[id(gn.layer)](*args, **kwargs)
            values.update(zip(gn.output_ids, tf.nest.flatten(outs)))
    view = keras.Model(inputs, [values[t] for t in output_ids],
                       name=f"stage_{stage_plan.index}")
    return Stage(stage_plan.device, view, input_ids, output_ids)
