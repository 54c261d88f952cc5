"""The plan of a pipeline: which layers go to which device, and what it costs."""

import dataclasses
import textwrap

__all__ = ["PipelinePlan", "StagePlan"]


@dataclasses.dataclass(frozen=True)
class StagePlan:
    """One pipeline stage.

    Attributes:
        index: the stage number, from 0 (the stage that reads the inputs).
        device: the device its variables live on and its computation runs on.
        layers: names of its layers, in execution order.
        num_params: number of parameters (all weights, trainable or not).
        param_bytes: bytes of those parameters.
        cost: the balancing cost of the stage (bytes, or measured seconds).
        receives: names of the layers whose outputs it receives from earlier
            stages (``"image"`` for a model input).

    Example:

    >>> StagePlan(0, "/device:CPU:0", ("dense",), 12, 48, 48.0, ("x",)).param_bytes
    48
    """

    index: int
    device: str
    layers: tuple
    num_params: int
    param_bytes: int
    cost: float
    receives: tuple


@dataclasses.dataclass(frozen=True)
class PipelinePlan:
    """How a model is split into pipeline stages; ``str(plan)`` is a table.

    Attributes:
        stages: the :class:`StagePlan` of each stage, in order.
        num_microbatches: micro-batches per training batch (M).
        balance: how the cuts were chosen: ``"params"``, ``"time"`` or
            ``"cuts"`` (given by the user).

    Example:

    >>> stage = StagePlan(0, "/device:CPU:0", ("d",), 4, 16, 16.0, ("x",))
    >>> plan = PipelinePlan((stage, stage), num_microbatches=3, balance="params")
    >>> plan.bubble_fraction, plan.param_bytes_by_device()
    (0.25, {'/device:CPU:0': 32})
    """

    stages: tuple
    num_microbatches: int
    balance: str

    @property
    def num_stages(self):
        """Number of stages (K)."""
        return len(self.stages)

    @property
    def bubble_fraction(self):
        """Idle fraction of a GPipe schedule: ``(K - 1) / (M + K - 1)``."""
        k, m = self.num_stages, self.num_microbatches
        return (k - 1) / (m + k - 1)

    @property
    def cuts(self):
        """Name of the last layer of every stage but the last."""
        return tuple(s.layers[-1] for s in self.stages[:-1])

    @property
    def total_param_bytes(self):
        """Parameter bytes of the whole (unpartitioned) model."""
        return sum(s.param_bytes for s in self.stages)

    @property
    def max_stage_param_fraction(self):
        """Largest share of the parameter bytes held by one device."""
        total = self.total_param_bytes
        per_device = self.param_bytes_by_device().values()
        return max(per_device) / total if total else 0.0

    def param_bytes_by_device(self):
        """Parameter bytes per device (devices may hold several stages)."""
        result = {}
        for s in self.stages:
            result[s.device] = result.get(s.device, 0) + s.param_bytes
        return result

    def __str__(self):
        total = self.total_param_bytes or 1
        lines = [
            f"Pipeline plan: {self.num_stages} stage(s) x {self.num_microbatches} "
            f"micro-batch(es), bubble fraction {self.bubble_fraction:.3f}, "
            f"balanced by {self.balance}",
            f"{'stage':<6}{'device':<24}{'layers':>7}{'params':>11}{'bytes':>12}"
            f"{'share':>8}  first .. last layer  (receives)",
        ]
        for s in self.stages:
            span = s.layers[0] if len(s.layers) == 1 else f"{s.layers[0]} .. {s.layers[-1]}"
            lines.append(
                f"{s.index:<6}{s.device:<24}{len(s.layers):>7}{s.num_params:>11,}"
                f"{s.param_bytes:>12,}{s.param_bytes / total:>8.1%}  {span}"
                f"  ({', '.join(s.receives)})"
            )
        lines.append(f"total parameter bytes: {self.total_param_bytes:,}")
        for s in self.stages:
            lines.extend(textwrap.wrap(", ".join(s.layers), width=100,
                                       initial_indent=f"stage {s.index} layers: ",
                                       subsequent_indent="    "))
        return "\n".join(lines)
