"""Structured pruning: remove neurons, filters and attention heads for real.

``plan(model, ratio=...)`` is a dry run over the model's channel dependency
graph; ``plan.apply()`` (or ``prune(model, ...)``) builds a NEW, smaller
tf_keras model with the kept weights copied. ``GradualStructuredPruning``
pushes whole channels to zero during ``fit`` first, so accuracy can recover.
Extend it to a custom layer with a ``Surgeon`` and ``register_surgeon``.
"""

from tfbig.prune.structured._callback import GradualStructuredPruning
from tfbig.prune.structured._plan import Group
from tfbig.prune.structured._plan import StructuredPlan
from tfbig.prune.structured._plan import plan
from tfbig.prune.structured._plan import prune
from tfbig.prune.structured._registry import Cut
from tfbig.prune.structured._registry import Slice
from tfbig.prune.structured._registry import Surgeon
from tfbig.prune.structured._registry import get_surgeon
from tfbig.prune.structured._registry import register_surgeon
from tfbig.prune.structured._registry import registered_layers

__all__ = [
    "Cut",
    "GradualStructuredPruning",
    "Group",
    "Slice",
    "StructuredPlan",
    "Surgeon",
    "get_surgeon",
    "plan",
    "prune",
    "register_surgeon",
    "registered_layers",
]
