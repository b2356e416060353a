"""Networks ``(x_t, t) ↦`` raw heads."""

from genmatch.nn.embeddings import SinusoidalTimeEmbedding
from genmatch.nn.encoders import FeatureEncoder, TokenEncoder, default_encoder
from genmatch.nn.mlp import MLP
from genmatch.nn.multimodal import MultimodalTransformer
from genmatch.nn.product_mlp import ProductMLP
from genmatch.nn.transformer import SequenceTransformer

__all__ = [
    "FeatureEncoder",
    "MLP",
    "MultimodalTransformer",
    "ProductMLP",
    "SequenceTransformer",
    "SinusoidalTimeEmbedding",
    "TokenEncoder",
    "default_encoder",
]
