"""Reference architectures (logit outputs) for the digits data and beyond."""

from tfbig.models.reference import MODELS
from tfbig.models.reference import PositionEmbedding
from tfbig.models.reference import cnn
from tfbig.models.reference import get_model
from tfbig.models.reference import mlp
from tfbig.models.reference import transformer

__all__ = ["MODELS", "PositionEmbedding", "cnn", "get_model", "mlp", "transformer"]
