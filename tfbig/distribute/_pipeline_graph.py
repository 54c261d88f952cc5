"""The layer graph of a Sequential/functional model, and where it may be cut.

Keras-light maths for :mod:`tfbig.distribute.pipeline`: the model's layer calls
(nodes) in a topological order, which tensors cross a cut between two
positions, whether a cut is valid, and the balanced partition of node costs
into contiguous stages. Nothing here creates variables or runs the model.

A *cut at position c* splits the node list into ``nodes[:c]`` and
``nodes[c:]``. It is **valid** when no tensor is used on both sides of it (a
skip/residual connection spanning the cut) and no shared layer is called on
both sides. Tensors produced before a valid cut and used after it are the ones
sent to later stages.
"""

import dataclasses

__all__ = ["LayerGraph", "read_graph", "partition"]


@dataclasses.dataclass
class GraphNode:
    """One layer call: the layer, its Keras ``Node``, and tensor ids in/out."""

    layer: object
    node: object
    input_ids: list
    output_ids: list


@dataclasses.dataclass
class LayerGraph:
    """Nodes in topological order plus the tensor bookkeeping cuts need."""

    nodes: list
    input_ids: list
    output_ids: list
    tensors: dict  # id -> KerasTensor
    producer: dict  # id -> node position (-1 for model inputs)
    consumers: dict  # id -> sorted node positions that read it

    @property
    def layers(self):
        """Distinct layers in order of their first call."""
        seen, result = set(), []
        for n in self.nodes:
            if id(n.layer) not in seen:
                seen.add(id(n.layer))
                result.append(n.layer)
        return result

    def tensor_name(self, tensor_id):
        """A readable name for a tensor: its producer layer (``"input"`` ones too)."""
        history = getattr(self.tensors[tensor_id], "_keras_history", None)
        layer = getattr(history, "layer", None)
        return layer.name if layer is not None else tensor_id

    def cut_problem(self, c):
        """Why a cut at position ``c`` is invalid, or ``None`` when it is valid."""
        if not 0 < c < len(self.nodes):
            return f"position {c} is outside 1..{len(self.nodes) - 1}"
        for tid, users in self.consumers.items():
            if self.producer[tid] < c and users and users[0] < c <= users[-1]:
                before = self.nodes[users[0]].layer.name
                after = self.nodes[users[-1]].layer.name
                return (
                    f"it is inside a skip connection: the output of "
                    f"{self.tensor_name(tid)!r} is used by {before!r} before the cut "
                    f"and by {after!r} after it"
                )
        positions = {}
        for pos, n in enumerate(self.nodes):
            positions.setdefault(id(n.layer), []).append(pos)
        for pos_list in positions.values():
            if pos_list[0] < c <= pos_list[-1]:
                name = self.nodes[pos_list[0]].layer.name
                return f"the shared layer {name!r} is called on both sides of it"
        return None

    def valid_cuts(self):
        """Positions where the model may be cut, in increasing order."""
        return [c for c in range(1, len(self.nodes)) if self.cut_problem(c) is None]

    def stage_io(self, start, stop):
        """Tensor ids a stage ``nodes[start:stop]`` receives and sends on.

        Returns:
            ``(input_ids, output_ids)``: tensors produced before ``start`` and
            read inside the stage; tensors produced inside and read after
            ``stop`` or returned by the model.
        """
        inside = set(range(start, stop))
        inputs, outputs = [], []
        for pos in range(start, stop):
            for tid in self.nodes[pos].input_ids:
                if self.producer[tid] not in inside and tid not in inputs:
                    inputs.append(tid)
            for tid in self.nodes[pos].output_ids:
                later = any(u >= stop for u in self.consumers.get(tid, ()))
                if (later or tid in self.output_ids) and tid not in outputs:
                    outputs.append(tid)
        return inputs, outputs


def read_graph(model):
    """Reads the nodes of a built Sequential/functional model, topologically.

    Nodes are taken deepest first (Keras' own execution order), ties broken by
    the layer's index in ``model.layers``.

    Raises:
        ValueError: when a layer call's output is neither used nor returned
            (a dead branch such as a symbolic ``add_loss``), which no stage
            could carry.
    """
    import tensorflow as tf

    order = {id(layer): i for i, layer in enumerate(model.layers)}
    nodes = []
    for depth in sorted(model._nodes_by_depth, reverse=True):
        level = [n for n in model._nodes_by_depth[depth] if not n.is_input]
        level.sort(key=lambda n: order.get(id(n.layer), len(order)))
        nodes.extend(level)
    tensors, producer, consumers = {}, {}, {}
    for t in tf.nest.flatten(model._nested_inputs):
        tensors[str(id(t))] = t
        producer[str(id(t))] = -1
    graph_nodes = []
    for pos, node in enumerate(nodes):
        outs = tf.nest.flatten(node.outputs)
        for t in outs:
            tensors[str(id(t))] = t
            producer[str(id(t))] = pos
        for t in node.keras_inputs:
            consumers.setdefault(str(id(t)), []).append(pos)
        graph_nodes.append(
            GraphNode(node.layer, node, list(dict.fromkeys(node.flat_input_ids)),
                      [str(id(t)) for t in outs])
        )
    output_ids = [str(id(t)) for t in tf.nest.flatten(model._nested_outputs)]
    graph = LayerGraph(
        nodes=graph_nodes,
        input_ids=[str(id(t)) for t in tf.nest.flatten(model._nested_inputs)],
        output_ids=output_ids,
        tensors=tensors,
        producer=producer,
        consumers={k: sorted(set(v)) for k, v in consumers.items()},
    )
    for n in graph_nodes:
        if not any(t in graph.consumers or t in output_ids for t in n.output_ids):
            raise ValueError(
                f"Layer {n.layer.name!r} computes a tensor that is neither used by "
                "another layer nor returned by the model (for example a symbolic "
                "`add_loss`/`add_metric` branch); a pipeline stage cannot carry it. "
                "Return it as a model output or move the loss into `compile`. "
                f"Received: layer={n.layer.name!r}"
            )
    return graph


def partition(costs, num_stages, cuts):
    """Splits ``costs`` into ``num_stages`` contiguous groups at allowed ``cuts``.

    Minimizes the largest group's cost, ties broken by the largest group's
    length (dynamic programming over the allowed cut positions).

    Args:
        costs: cost of each position (node).
        num_stages: number of groups (>= 1).
        cuts: allowed cut positions (``0 < c < len(costs)``), increasing.

    Returns:
        The chosen cut positions, ``num_stages - 1`` of them, increasing; or
        ``None`` when there are not enough allowed cuts.

    Example:

    >>> partition([4, 1, 1, 1, 1], 2, [1, 2, 3, 4])
    [1]
    """
    bounds = [0] + list(cuts) + [len(costs)]
    if num_stages - 1 > len(cuts):
        return None
    prefix = [0.0]
    for c in costs:
        prefix.append(prefix[-1] + float(c))

    def group(i, j):
        return (prefix[bounds[j]] - prefix[bounds[i]], bounds[j] - bounds[i])

    inf = (float("inf"), float("inf"))
    # best[k][j]: best value splitting nodes[:bounds[j]] into k groups.
    best = [[inf] * len(bounds) for _ in range(num_stages + 1)]
    choice = [[None] * len(bounds) for _ in range(num_stages + 1)]
    best[0][0] = (0.0, 0)
    for k in range(1, num_stages + 1):
        for j in range(1, len(bounds)):
            for i in range(j):
                if best[k - 1][i] == inf:
                    continue
                value = max(best[k - 1][i], group(i, j))
                if value < best[k][j]:
                    best[k][j], choice[k][j] = value, i
    if best[num_stages][-1] == inf:
        return None
    result, j = [], len(bounds) - 1
    for k in range(num_stages, 0, -1):
        j = choice[k][j]
        result.append(bounds[j])
    return sorted(result)[1:]
