"""A transformer over positions shared by every factor (residues: amino acid × frame)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import final

import torch
from torch import Tensor, nn

from genmatch._checks import check_positive_int
from genmatch.nn._layers import time_mlps, transformer_trunk
from genmatch.nn._product import check_inputs, group_heads, leaf_factors
from genmatch.nn.encoders.default import default_encoder
from genmatch.spaces.product import ProductSpace
from genmatch.types import HeadShapes, State


@final
class AlignedTransformer(nn.Module):
    """``(x_t, t) ↦ {"factor/head": (batch, L, *rest)}``: one token per position of all factors.

    Where every factor has the same ``L`` positions — a protein's residues carry an amino acid,
    a rotation and a translation — the factors' encodings of position ``l`` and their own time
    embeddings are summed into one token::

        h_l = Σ_i [encoder_i(x_i)_l + time_i(t_i)]              (batch, L, d_model)

    and one pre-norm transformer encoder runs over the ``L`` tokens (a third of the tokens of
    :class:`~genmatch.nn.MultimodalTransformer` for three factors, and the alignment of the
    factors is given rather than learnt). Every head is read per position by a linear map of
    its token to ``prod(rest)``. Holding a factor at ``t = 1`` makes it a condition, as there.

    Args:
        space: the product space; every leaf factor has ``L`` tokens.
        heads: head shapes ``{"factor/head": (L, *rest)}`` (the product generator's
            ``head_shapes(space)``).
        length: ``L``.
        d_model: the token width.
        num_layers: transformer encoder layers.
        num_heads: attention heads (divides ``d_model``).
        time_dim: size of the sinusoidal time embeddings.
        encoders: encoders by leaf factor path replacing :func:`~genmatch.nn.default_encoder`
            (which gives ``L`` tokens for ``DiscreteSpace(L, ·)`` and a power manifold ``M^L``;
            a Euclidean ``(L, d)`` factor needs ``FeatureEncoder((L, d), d_model,
            num_tokens=L)``).
        dropout: dropout in the encoder layers.

    Shapes:
        x_t: ``{factor: batch of the factor}``; t: ``{factor: (batch,)}`` or one ``(batch,)``
        tensor; returns ``{head: (batch, *heads[head])}``.

    Example:
        >>> import torch
        >>> from genmatch.manifolds import SO3
        >>> from genmatch.nn.encoders import FeatureEncoder
        >>> from genmatch.spaces import DiscreteSpace, EuclideanSpace, ManifoldSpace
        >>> space = ProductSpace({"aa": DiscreteSpace(5, 21),
        ...                       "rot": ManifoldSpace(SO3(), (5, 3, 3)),
        ...                       "x": EuclideanSpace((5, 3))})
        >>> heads = {"aa/logits": (5, 21), "rot/velocity": (5, 3, 3), "x/velocity": (5, 3)}
        >>> net = AlignedTransformer(space, heads, length=5, d_model=16, num_heads=2,
        ...                          encoders={"x": FeatureEncoder((5, 3), 16, num_tokens=5)})
        >>> x_t = {"aa": torch.zeros(2, 5, dtype=torch.long),
        ...        "rot": torch.eye(3).expand(2, 5, 3, 3), "x": torch.randn(2, 5, 3)}
        >>> {k: tuple(v.shape) for k, v in net(x_t, torch.rand(2)).items()}
        {'aa/logits': (2, 5, 21), 'rot/velocity': (2, 5, 3, 3), 'x/velocity': (2, 5, 3)}
    """

    def __init__(
        self,
        space: ProductSpace,
        heads: HeadShapes,
        *,
        length: int,
        d_model: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        time_dim: int = 64,
        encoders: Mapping[str, nn.Module] | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.space = space
        self.leaves = leaf_factors(space)
        self.length = check_positive_int(length, "length")
        self.head_shapes = group_heads(heads, self.leaves)
        d_model = check_positive_int(d_model, "d_model")
        num_heads = check_positive_int(num_heads, "num_heads")
        if d_model % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide d_model ({d_model})")
        given = dict(encoders or {})
        unknown = [k for k in given if k not in self.leaves]
        if unknown:
            raise ValueError(f"encoders for {unknown} name no leaf factor of {list(self.leaves)}")
        self.encoders = nn.ModuleDict(
            {
                p: given[p] if p in given else default_encoder(f, d_model)
                for p, f in self.leaves.items()
            }
        )
        for path, enc in self.encoders.items():
            if getattr(enc, "num_tokens", None) != self.length:
                raise ValueError(
                    f"the encoder of {path!r} has num_tokens {getattr(enc, 'num_tokens', None)!r}, "
                    f"expected the length {self.length} (pass encoders={{{path!r}: ...}})"
                )
        for key, shape in self.head_shapes.items():
            if len(shape) < 1 or shape[0] != self.length:
                raise ValueError(f"head {key!r} has shape {shape}, expected ({self.length}, ...)")
        self.time = time_mlps(self.leaves, time_dim, d_model)
        self.trunk = transformer_trunk(d_model, num_heads, num_layers, dropout)
        self.norm = nn.LayerNorm(d_model)
        self.readouts = nn.ModuleDict(
            {
                key: nn.Linear(d_model, math.prod(shape[1:]))
                for key, shape in self.head_shapes.items()
            }
        )

    def forward(self, x_t: State, t: Tensor | Mapping[str, object]) -> dict[str, Tensor]:
        flat, times, batch = check_inputs(x_t, t, self.space, self.leaves)
        dtype = self.norm.weight.dtype
        h = torch.zeros(batch, self.length, self.norm.normalized_shape[0], dtype=dtype)
        h = h.to(self.norm.weight.device)
        for path, enc in self.encoders.items():
            h = h + enc(flat[path]) + self.time[path](times[path].to(dtype))[:, None, :]
        h = self.norm(self.trunk(h))
        return {
            key: self.readouts[key](h).reshape(batch, *shape)
            for key, shape in self.head_shapes.items()
        }
