"""Knowledge distillation inside ``model.fit``: output and intermediate losses.

A :class:`Distiller` trains a student from a frozen teacher; the losses say what
the student matches: :class:`LogitsLoss` (soft targets), :class:`FeatureLoss`
(a named layer's output, with a learned projection when widths differ) and
:class:`AttentionLoss` (MultiHeadAttention maps). :func:`cache_teacher_outputs`
runs the teacher once for a fixed dataset.
"""

from tfbig.distill.attention import AttentionLoss
from tfbig.distill.base import DistillationLoss
from tfbig.distill.caching import cache_teacher_outputs
from tfbig.distill.distiller import Distiller
from tfbig.distill.features import FeatureLoss
from tfbig.distill.logits import LogitsLoss

__all__ = [
    "AttentionLoss",
    "DistillationLoss",
    "Distiller",
    "FeatureLoss",
    "LogitsLoss",
    "cache_teacher_outputs",
]
