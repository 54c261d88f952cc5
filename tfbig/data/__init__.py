"""Embedded default data (real data shipped by a package; no downloads)."""

from tfbig.data.digits import IMAGE_SHAPE
from tfbig.data.digits import NUM_CLASSES
from tfbig.data.digits import digits_dataset
from tfbig.data.digits import load_digits

__all__ = ["IMAGE_SHAPE", "NUM_CLASSES", "digits_dataset", "load_digits"]
