"""Weight pruning inside ``model.fit``, on tfmot's ``prune_low_magnitude`` machinery.

- :func:`magnitude`: a pruned copy of any tf_keras model (Sequential,
  functional with raw TF ops, nested, subclassed), ready to compile and fit;
  its ``fit`` adds :class:`PruningCallback` itself.
- :func:`strip`: a plain model with the zeros kept, for export.
- :func:`sparsity_report`: per-layer and overall sparsity, data and table.
- :class:`PolynomialDecay`, :class:`ConstantSparsity`: schedules in steps or
  epochs (tfmot ``PruningSchedule`` subclasses).
- :class:`PruneLowMagnitude`: tfmot's wrapper without a partner callback,
  with mixed precision, global ranking and a complete config.
- :mod:`tfbig.prune.structured`: structured pruning that removes neurons,
  filters, heads and residual branches for real (``structured.plan(...)``).
"""

from tfbig.prune import structured
from tfbig.prune.callbacks import PruningCallback
from tfbig.prune.magnitude import magnitude
from tfbig.prune.models import PrunedModel
from tfbig.prune.models import PrunedSequential
from tfbig.prune.models import PrunedSubclassedModel
from tfbig.prune.report import LayerSparsity
from tfbig.prune.report import SparsityReport
from tfbig.prune.report import sparsity_report
from tfbig.prune.schedules import ConstantSparsity
from tfbig.prune.schedules import PolynomialDecay
from tfbig.prune.strip import strip
from tfbig.prune.wrapper import PruneLowMagnitude

__all__ = [
    "ConstantSparsity",
    "LayerSparsity",
    "PolynomialDecay",
    "PruneLowMagnitude",
    "PrunedModel",
    "PrunedSequential",
    "PrunedSubclassedModel",
    "PruningCallback",
    "SparsityReport",
    "magnitude",
    "sparsity_report",
    "strip",
    "structured",
]
