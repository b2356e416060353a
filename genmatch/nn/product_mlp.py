"""A multilayer perceptron on the concatenated factors of a small product space."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import final

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genmatch._checks import check_positive_int
from genmatch.nn._product import check_inputs, group_heads, leaf_factors
from genmatch.nn.embeddings import SinusoidalTimeEmbedding
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.product import ProductSpace
from genmatch.types import HeadShapes, State


@final
class ProductMLP(nn.Module):
    """``(x_t, t) ↦ {"factor/head": (batch, *head_shape)}``: one MLP on all factors at once.

    The input features are, for each leaf factor in the space's order, its flattened points
    (floating factors: Euclidean, manifolds in ambient coordinates) or the one-hot codes of its
    tokens (:class:`~genmatch.spaces.DiscreteSpace`: ``S`` per position), followed by a
    sinusoidal embedding of each factor's own time. All heads come out of the last linear
    layer, split and reshaped. Meant for small problems (a point and a label); for long
    sequences or many modalities use :class:`~genmatch.nn.MultimodalTransformer`. Nested
    products are flattened as there: heads ``"pair/u/<head>"``, points ``x_t["pair"]["u"]``.

    Args:
        space: the product space; every leaf factor is a ``DiscreteSpace`` or has an
            ``event_shape`` and floating points.
        heads: head shapes by name ``"factor/head"`` (the product generator's
            ``head_shapes(space)``).
        hidden: width of the hidden layers.
        depth: number of hidden layers.
        time_dim: size of each factor's sinusoidal time embedding.

    Shapes:
        x_t: ``{factor: batch of the factor}``; t: ``{factor: (batch,)}`` or one ``(batch,)``
        tensor for every factor; returns ``{head: (batch, *heads[head])}``.

    Example:
        >>> import torch
        >>> from genmatch.spaces import DiscreteSpace, EuclideanSpace, ProductSpace
        >>> space = ProductSpace({"x": EuclideanSpace(2), "label": DiscreteSpace(1, 4)})
        >>> net = ProductMLP(space, {"x/velocity": (2,), "label/logits": (1, 4)}, hidden=16)
        >>> x_t = {"x": torch.randn(3, 2), "label": torch.tensor([[0], [3], [1]])}
        >>> out = net(x_t, torch.rand(3))
        >>> out["x/velocity"].shape, out["label/logits"].shape
        (torch.Size([3, 2]), torch.Size([3, 1, 4]))
    """

    def __init__(
        self,
        space: ProductSpace,
        heads: HeadShapes,
        *,
        hidden: int = 256,
        depth: int = 3,
        time_dim: int = 32,
    ) -> None:
        super().__init__()
        self.space = space
        self.leaves = leaf_factors(space)
        self.head_shapes = group_heads(heads, self.leaves)
        hidden = check_positive_int(hidden, "hidden")
        depth = check_positive_int(depth, "depth")
        features = 0
        for path, factor in self.leaves.items():
            if isinstance(factor, DiscreteSpace):
                features += factor.length * factor.num_states
            elif hasattr(factor, "event_shape"):
                features += math.prod(factor.event_shape)
            else:
                raise TypeError(
                    f"factor {path!r} ({type(factor).__name__}) is neither a DiscreteSpace nor "
                    "a space with an event_shape; use a MultimodalTransformer with an encoder"
                )
        self.time_embedding = SinusoidalTimeEmbedding(time_dim)
        layers: list[nn.Module] = [
            nn.Linear(features + time_dim * len(self.leaves), hidden),
            nn.SiLU(),
        ]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.SiLU()]
        self.head_sizes = [math.prod(s) for s in self.head_shapes.values()]
        layers.append(nn.Linear(hidden, sum(self.head_sizes)))
        self.layers = nn.Sequential(*layers)

    def forward(self, x_t: State, t: Tensor | Mapping[str, object]) -> dict[str, Tensor]:
        flat, times, batch = check_inputs(x_t, t, self.space, self.leaves)
        dtype = next(self.parameters()).dtype
        parts = []
        for path, factor in self.leaves.items():
            x = flat[path]
            if isinstance(factor, DiscreteSpace):
                x = F.one_hot(x, factor.num_states).to(dtype)  # raises on tokens out of range
            parts.append(x.reshape(batch, -1))
        parts += [self.time_embedding(times[path].to(dtype)) for path in self.leaves]
        out = self.layers(torch.cat(parts, dim=1))
        chunks = torch.split(out, self.head_sizes, dim=1)
        return {
            key: chunk.reshape(batch, *shape)
            for (key, shape), chunk in zip(self.head_shapes.items(), chunks, strict=True)
        }
