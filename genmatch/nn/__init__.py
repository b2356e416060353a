"""Networks ``(x_t, t) ↦`` raw heads."""

from genmatch.nn.aligned import AlignedTransformer
from genmatch.nn.conditions import FeatureEmbedding, LabelEmbedding
from genmatch.nn.embeddings import SinusoidalTimeEmbedding
from genmatch.nn.encoders import FeatureEncoder, TokenEncoder, default_encoder
from genmatch.nn.graph_transformer import GraphTransformer
from genmatch.nn.mlp import MLP
from genmatch.nn.multimodal import MultimodalTransformer
from genmatch.nn.product_mlp import ProductMLP
from genmatch.nn.transformer import SequenceTransformer

__all__ = [
    "AlignedTransformer",
    "FeatureEmbedding",
    "FeatureEncoder",
    "GraphTransformer",
    "LabelEmbedding",
    "MLP",
    "MultimodalTransformer",
    "ProductMLP",
    "SequenceTransformer",
    "SinusoidalTimeEmbedding",
    "TokenEncoder",
    "default_encoder",
]
