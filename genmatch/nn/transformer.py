"""A small transformer over token sequences with a time embedding and named output heads."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genmatch.guidance.condition import Condition
from genmatch.nn._layers import transformer_trunk
from genmatch.nn.conditions.base import AbstractConditionEmbedding
from genmatch.nn.embeddings import SinusoidalTimeEmbedding
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.types import HeadShapes


class SequenceTransformer(nn.Module):
    """``(x_t, t) ↦ {head: (batch, L, K)}``: a pre-norm transformer encoder on tokens.

    Token and learned position embeddings plus a projected sinusoidal time embedding are
    summed at the input; each head is one linear read-out per position. Heads must be shaped
    ``(L, K)``, as :class:`~genmatch.generators.CTMCGenerator` declares them (``"logits"`` or
    ``"rate"``, ``(L, S)``). Its logits are the unnormalised ``p_{1|t}``, ready for guidance or
    temperature.

    Args:
        space: the discrete space (``L`` and the number of token states).
        heads: output head shapes by name, each ``(L, K)``.
        d_model: width.
        num_layers: encoder layers.
        num_heads: attention heads (divides ``d_model``).
        dropout: dropout in the encoder layers.
        condition: an optional condition embedding (e.g.
            :class:`~genmatch.nn.conditions.LabelEmbedding`): the network then takes
            ``net(x_t, t, c)``, the condition's projected embedding added to every position
            like the time's; ``c = None`` is the learned null condition.

    Shapes:
        x_t: ``(batch, L)`` int64; t: ``(batch,)``.

    Example:
        >>> import torch
        >>> space = DiscreteSpace(5, 3, mask=True)
        >>> net = SequenceTransformer(space, {"logits": (5, 4)}, d_model=16, num_heads=2)
        >>> net(torch.zeros(2, 5, dtype=torch.long), torch.zeros(2))["logits"].shape
        torch.Size([2, 5, 4])
    """

    def __init__(
        self,
        space: DiscreteSpace,
        heads: HeadShapes,
        *,
        d_model: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        dropout: float = 0.0,
        condition: AbstractConditionEmbedding | None = None,
    ) -> None:
        super().__init__()
        if not heads:
            raise ValueError("a SequenceTransformer needs at least one output head")
        for name, shape in heads.items():
            if len(shape) != 2 or shape[0] != space.length:
                raise ValueError(f"head {name!r} must be shaped ({space.length}, K), got {shape}")
        self.length = space.length
        self.token = nn.Embedding(space.num_states, d_model)
        self.position = nn.Parameter(torch.randn(space.length, d_model) * 0.02)
        self.time = nn.Sequential(
            SinusoidalTimeEmbedding(64),
            nn.Linear(64, d_model),
            nn.SiLU(),
            nn.Linear(d_model, d_model),
        )
        if condition is not None and not isinstance(condition, AbstractConditionEmbedding):
            raise TypeError(
                f"condition must be an AbstractConditionEmbedding, got {type(condition).__name__}"
            )
        self.condition = condition
        self.condition_proj = None if condition is None else nn.Linear(condition.dim, d_model)
        self.encoder = transformer_trunk(d_model, num_heads, num_layers, dropout)
        self.norm = nn.LayerNorm(d_model)
        self.heads = nn.ModuleDict(
            {name: nn.Linear(d_model, shape[1]) for name, shape in heads.items()}
        )

    def forward(
        self, x_t: Tensor, t: Tensor, c: Condition | Tensor | None = None
    ) -> dict[str, Tensor]:
        if x_t.dim() != 2 or x_t.shape[1] != self.length:
            raise ValueError(f"x_t must be (batch, {self.length}), got {tuple(x_t.shape)}")
        if t.shape != x_t.shape[:1]:
            raise ValueError(f"t must be ({x_t.shape[0]},), got {tuple(t.shape)}")
        h = self.token(x_t) + self.position + self.time(t.to(self.position.dtype))[:, None, :]
        if self.condition is not None and self.condition_proj is not None:
            e = self.condition(c, x_t.shape[0]).to(self.position.dtype)
            h = h + self.condition_proj(e)[:, None, :]
        elif c is not None:
            raise TypeError("this SequenceTransformer takes no condition: build it with condition=")
        h = self.norm(self.encoder(h))
        return {name: head(h) for name, head in self.heads.items()}
