"""Networks ``(x_t, t) ↦`` raw heads."""

from genmatch.nn.embeddings import SinusoidalTimeEmbedding
from genmatch.nn.mlp import MLP

__all__ = ["MLP", "SinusoidalTimeEmbedding"]
