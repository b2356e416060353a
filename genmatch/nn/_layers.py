"""Layers the transformer networks share: per-factor time embeddings and the trunk."""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from genmatch._checks import check_positive_int
from genmatch.nn.embeddings import SinusoidalTimeEmbedding


def time_mlps(names: Iterable[str], time_dim: int, d_model: int) -> nn.ModuleDict:
    """One ``t ↦ MLP(sinusoidal(t))`` of width ``d_model`` per name (per factor's clock)."""
    return nn.ModuleDict(
        {
            name: nn.Sequential(
                SinusoidalTimeEmbedding(time_dim),
                nn.Linear(time_dim, d_model),
                nn.SiLU(),
                nn.Linear(d_model, d_model),
            )
            for name in names
        }
    )


def transformer_trunk(
    d_model: int, num_heads: int, num_layers: int, dropout: float
) -> nn.TransformerEncoder:
    """``num_layers`` pre-norm GELU encoder layers (feed-forward width ``4 d_model``)."""
    layer = nn.TransformerEncoderLayer(
        d_model,
        num_heads,
        dim_feedforward=4 * d_model,
        dropout=dropout,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    return nn.TransformerEncoder(
        layer, check_positive_int(num_layers, "num_layers"), enable_nested_tensor=False
    )
