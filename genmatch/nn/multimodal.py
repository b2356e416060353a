"""A transformer over the tokens of every factor of a product space (GM §9.8)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import final

import torch
from torch import Tensor, nn

from genmatch._checks import check_positive_int
from genmatch.nn._layers import time_mlps, transformer_trunk
from genmatch.nn._product import check_inputs, group_heads, head_factor, leaf_factors
from genmatch.nn.encoders.default import default_encoder
from genmatch.spaces.product import ProductSpace
from genmatch.types import HeadShapes, State


@final
class MultimodalTransformer(nn.Module):
    """``(x_t, t) ↦ {"factor/head": (batch, *head_shape)}``: one trunk over all modalities.

    Each factor ``i`` is encoded into ``n_i`` tokens; its own time ``t_i`` (a sinusoidal
    embedding and an MLP, separate weights per factor) and a learned factor-type embedding are
    added to its tokens::

        h_i = encoder_i(x_i) + time_i(t_i) + type_i          (batch, n_i, d_model)

    The tokens of all factors, concatenated in the space's factor order, go through one shared
    pre-norm transformer encoder, so every head sees every factor (conditional generation of
    one modality given another: hold the condition at ``t = 1``). Each head is read from its
    factor's tokens: a head shaped ``(n_i, *rest)`` with ``n_i > 1`` gets a per-token linear
    map to ``prod(rest)``; any other head a linear map of the mean of its factor's tokens.

    Nested products are flattened: factor ``u`` of a nested product ``pair`` is the leaf
    ``"pair/u"``, its heads are named ``"pair/u/<head>"``, its encoder is ``encoders["pair/u"]``
    and its points and times are ``x_t["pair"]["u"]``, ``t["pair"]["u"]``.

    Args:
        space: the product space.
        heads: head shapes by name ``"factor/head"`` (the product generator's
            ``head_shapes(space)``).
        d_model: the token width.
        num_layers: transformer encoder layers.
        num_heads: attention heads (divides ``d_model``).
        time_dim: size of the sinusoidal time embeddings.
        encoders: encoders by leaf factor path, replacing :func:`~genmatch.nn.default_encoder`
            (the contract: an ``int`` attribute ``num_tokens`` and ``encoder(x_factor) ->
            (batch, num_tokens, d_model)``).
        dropout: dropout in the encoder layers.

    Shapes:
        x_t: ``{factor: batch of the factor}`` (nested dicts for nested products);
        t: ``{factor: (batch,)}`` (nested likewise), or one ``(batch,)`` tensor for every
        factor; returns ``{head: (batch, *heads[head])}``.

    Example:
        >>> import torch
        >>> from genmatch.spaces import DiscreteSpace, EuclideanSpace, ProductSpace
        >>> space = ProductSpace({"x": EuclideanSpace(2), "caption": DiscreteSpace(3, 5)})
        >>> heads = {"x/velocity": (2,), "caption/logits": (3, 5)}
        >>> net = MultimodalTransformer(space, heads, d_model=16, num_heads=2, time_dim=8)
        >>> x_t = {"x": torch.randn(4, 2), "caption": torch.zeros(4, 3, dtype=torch.long)}
        >>> out = net(x_t, {"x": torch.rand(4), "caption": torch.ones(4)})
        >>> out["x/velocity"].shape, out["caption/logits"].shape
        (torch.Size([4, 2]), torch.Size([4, 3, 5]))
    """

    def __init__(
        self,
        space: ProductSpace,
        heads: HeadShapes,
        *,
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
        self.head_shapes = group_heads(heads, self.leaves)
        d_model = check_positive_int(d_model, "d_model")
        num_heads = check_positive_int(num_heads, "num_heads")
        if d_model % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide d_model ({d_model})")
        self.d_model = d_model
        self.encoders = nn.ModuleDict(self._encoders(encoders or {}, d_model))
        self.num_tokens: dict[str, int] = {
            path: int(enc.num_tokens)  # type: ignore[arg-type]
            for path, enc in self.encoders.items()
        }
        self.time = time_mlps(self.leaves, time_dim, d_model)
        self.factor_type = nn.Parameter(torch.randn(len(self.leaves), d_model) * 0.02)
        self.trunk = transformer_trunk(d_model, num_heads, num_layers, dropout)
        self.norm = nn.LayerNorm(d_model)
        self.per_token = {key: self._is_per_token(key) for key in self.head_shapes}
        self.readouts = nn.ModuleDict(
            {
                key: nn.Linear(d_model, math.prod(shape[1:] if self.per_token[key] else shape))
                for key, shape in self.head_shapes.items()
            }
        )

    def _encoders(self, given: Mapping[str, nn.Module], d_model: int) -> dict[str, nn.Module]:
        unknown = [k for k in given if k not in self.leaves]
        if unknown:
            raise ValueError(
                f"encoders for {unknown} name no leaf factor; the leaf factors are "
                f"{list(self.leaves)}"
            )
        out = {}
        for path, factor in self.leaves.items():
            enc = given[path] if path in given else default_encoder(factor, d_model)
            if not isinstance(enc, nn.Module):
                raise TypeError(f"the encoder of {path!r} must be an nn.Module, got {enc!r}")
            n = getattr(enc, "num_tokens", None)
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(
                    f"the encoder of {path!r} must have an int attribute num_tokens >= 1, got {n!r}"
                )
            out[path] = enc
        return out

    def _is_per_token(self, key: str) -> bool:
        shape, n = self.head_shapes[key], self.num_tokens[head_factor(key)]
        return n > 1 and len(shape) >= 1 and shape[0] == n

    def forward(self, x_t: State, t: Tensor | Mapping[str, object]) -> dict[str, Tensor]:
        flat, times, batch = check_inputs(x_t, t, self.space, self.leaves)
        dtype = self.factor_type.dtype
        tokens = []
        for i, (path, enc) in enumerate(self.encoders.items()):
            h = enc(flat[path])
            expected = (batch, self.num_tokens[path], self.d_model)
            if tuple(h.shape) != expected:
                raise ValueError(
                    f"the encoder of {path!r} returned {tuple(h.shape)}, expected {expected} "
                    "(batch, num_tokens, d_model)"
                )
            time = self.time[path](times[path].to(dtype))
            tokens.append(h + time[:, None, :] + self.factor_type[i])
        h = self.norm(self.trunk(torch.cat(tokens, dim=1)))
        split = torch.split(h, list(self.num_tokens.values()), dim=1)
        parts = dict(zip(self.encoders, split, strict=True))
        out = {}
        for key, shape in self.head_shapes.items():
            h_i = parts[head_factor(key)]
            if self.per_token[key]:
                out[key] = self.readouts[key](h_i).reshape(batch, *shape)
            else:
                out[key] = self.readouts[key](h_i.mean(1)).reshape(batch, *shape)
        return out
