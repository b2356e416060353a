"""Per-factor encoders of product networks: a factor batch ``↦ (batch, num_tokens, d_model)``."""

from genmatch.nn.encoders.default import default_encoder
from genmatch.nn.encoders.features import FeatureEncoder
from genmatch.nn.encoders.tokens import TokenEncoder

__all__ = ["FeatureEncoder", "TokenEncoder", "default_encoder"]
