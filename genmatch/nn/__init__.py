"""Networks ``(x_t, t) ↦`` raw heads."""

from genmatch.nn.embeddings import SinusoidalTimeEmbedding
from genmatch.nn.mlp import MLP
from genmatch.nn.transformer import SequenceTransformer

__all__ = ["MLP", "SequenceTransformer", "SinusoidalTimeEmbedding"]
