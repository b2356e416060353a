"""A multilayer perceptron with a time embedding and named output heads."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genmatch._checks import broadcast_time, check_float_tensor, check_positive_int
from genmatch.guidance.condition import Condition
from genmatch.nn.conditions.base import AbstractConditionEmbedding
from genmatch.nn.embeddings import SinusoidalTimeEmbedding
from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.euclidean import EuclideanSpace
from genmatch.types import HeadShapes


class MLP(nn.Module):
    """``(x_t, t) ↦ {head: (batch, *head_shape)}``: an MLP on ``[flatten(x_t), emb(t)]``.

    The heads are declared by the generator(s) the network serves
    (``generator.head_shapes(space)``); all of them come out of one final linear layer, split
    and reshaped. Points are floating tensors of any event shape: Euclidean points, manifold
    points in ambient coordinates (e.g. ``(N, 3, 3)`` for ``SO(3)^N``). For token sequences use
    :class:`~genmatch.nn.SequenceTransformer`, for products :class:`~genmatch.nn.ProductMLP`.

    Args:
        space: the space of ``x_t`` (any space with an ``event_shape`` and floating points,
            e.g. :class:`~genmatch.spaces.EuclideanSpace`,
            :class:`~genmatch.spaces.ManifoldSpace`), or the event shape itself.
        heads: output head shapes by name.
        hidden: width of the hidden layers.
        depth: number of hidden layers (``>= 1``).
        time_dim: size of the sinusoidal time embedding.
        activation: the non-linearity class.
        condition: an optional condition embedding (e.g.
            :class:`~genmatch.nn.conditions.LabelEmbedding`): the network then takes a condition
            ``net(x_t, t, c)``, concatenated to its input; ``c = None`` (or rows of a
            :class:`~genmatch.guidance.Condition` that are not present) is the null condition.

    Shapes:
        x_t: ``(batch, *space.event_shape)``; t: ``(batch,)``.

    Example:
        >>> import torch
        >>> net = MLP(EuclideanSpace(2), {"velocity": (2,)}, hidden=8)
        >>> net(torch.zeros(4, 2), torch.zeros(4))["velocity"].shape
        torch.Size([4, 2])
        >>> from genmatch.manifolds import SO3
        >>> from genmatch.spaces import ManifoldSpace
        >>> frames = ManifoldSpace(SO3(), (5, 3, 3))
        >>> net = MLP(frames, {"velocity": (5, 3, 3)}, hidden=8)
        >>> x_t = SO3().random_uniform_points(10).reshape(2, 5, 3, 3)
        >>> net(x_t, torch.rand(2))["velocity"].shape
        torch.Size([2, 5, 3, 3])
    """

    def __init__(
        self,
        space: AbstractStateSpace | int | tuple[int, ...],
        heads: HeadShapes,
        *,
        hidden: int = 256,
        depth: int = 3,
        time_dim: int = 32,
        activation: type[nn.Module] = nn.SiLU,
        condition: AbstractConditionEmbedding | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("depth", depth), ("hidden", hidden), ("time_dim", time_dim)):
            check_positive_int(value, name)
        if not heads:
            raise ValueError("an MLP needs at least one output head")
        self.event_shape = _event_shape(space)
        self.head_names = tuple(heads)
        self.head_shapes = tuple(tuple(heads[k]) for k in self.head_names)
        self.head_sizes = tuple(math.prod(s) for s in self.head_shapes)
        self.time_embedding = SinusoidalTimeEmbedding(time_dim)
        if condition is not None and not isinstance(condition, AbstractConditionEmbedding):
            raise TypeError(
                f"condition must be an AbstractConditionEmbedding, got {type(condition).__name__}"
            )
        self.condition = condition
        cond_dim = 0 if condition is None else condition.dim
        layers: list[nn.Module] = [
            nn.Linear(math.prod(self.event_shape) + time_dim + cond_dim, hidden),
            activation(),
        ]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), activation()]
        layers.append(nn.Linear(hidden, sum(self.head_sizes)))
        self.layers = nn.Sequential(*layers)

    def forward(
        self, x_t: Tensor, t: Tensor | float, c: Condition | Tensor | None = None
    ) -> dict[str, Tensor]:
        check_float_tensor(x_t, "x_t")
        if tuple(x_t.shape[1:]) != self.event_shape or x_t.dim() != 1 + len(self.event_shape):
            raise ValueError(f"x_t must be (batch, {self.event_shape}), got {tuple(x_t.shape)}")
        t = broadcast_time(t, x_t)
        inputs = [x_t.flatten(1), self.time_embedding(t)]
        if self.condition is not None:
            inputs.append(self.condition(c, x_t.shape[0]).to(x_t.dtype))
        elif c is not None:
            raise TypeError("this MLP takes no condition: build it with condition=...")
        h = torch.cat(inputs, dim=1)
        out = self.layers(h)
        if len(self.head_names) == 1:
            return {self.head_names[0]: out.reshape(x_t.shape[0], *self.head_shapes[0])}
        parts = torch.split(out, list(self.head_sizes), dim=1)
        return {
            name: part.reshape(x_t.shape[0], *shape)
            for name, part, shape in zip(self.head_names, parts, self.head_shapes, strict=True)
        }


def _event_shape(space: object) -> tuple[int, ...]:
    if isinstance(space, DiscreteSpace):
        raise TypeError(
            "an MLP takes floating points, but a DiscreteSpace holds int64 tokens: use a "
            "SequenceTransformer (or a ProductMLP, which one-hot encodes tokens)"
        )
    if isinstance(space, (int, tuple)):
        return EuclideanSpace(space).event_shape  # validates the shape
    shape = getattr(space, "event_shape", None)
    if shape is None:
        raise TypeError(
            f"an MLP needs a space with an event_shape (or the event shape), got "
            f"{type(space).__name__}; for a ProductSpace use ProductMLP or MultimodalTransformer"
        )
    return tuple(shape)
