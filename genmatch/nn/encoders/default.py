"""The encoder a product network builds for a factor when none is given."""

from __future__ import annotations

from torch import nn

from genmatch.nn.encoders.features import FeatureEncoder
from genmatch.nn.encoders.tokens import TokenEncoder
from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.euclidean import EuclideanSpace
from genmatch.spaces.manifold import ManifoldSpace


def default_encoder(space: AbstractStateSpace, d_model: int) -> nn.Module:
    """The default encoder of a factor space, chosen once when a network is built.

    ========================================  =============================================
    space                                     encoder
    ========================================  =============================================
    :class:`~genmatch.spaces.DiscreteSpace`   :class:`TokenEncoder`: ``L`` tokens
    :class:`~genmatch.spaces.EuclideanSpace`  :class:`FeatureEncoder`: one token
    :class:`~genmatch.spaces.ManifoldSpace`   :class:`FeatureEncoder` on ambient coordinates:
                                              one token per element of a power ``M^N``
                                              (``N = space.power`` tokens)
    ========================================  =============================================

    Any other space (a user's subclass, a nested :class:`~genmatch.spaces.ProductSpace`,
    which product networks flatten themselves) has no default. The contract of an encoder,
    for those who write their own: an ``nn.Module`` with an ``int`` attribute ``num_tokens``,
    called ``encoder(x_factor)`` on a batch of the factor, returning ``(batch, num_tokens,
    d_model)``. Pass it to a network as ``encoders={"factor": encoder}``; for a large
    Euclidean vector in several tokens, ``FeatureEncoder(shape, d_model, num_tokens=k)``.

    Args:
        space: the factor space.
        d_model: the token width.

    Returns:
        the encoder module.

    Raises:
        TypeError: for a space other than the three above.

    Example:
        >>> from genmatch.manifolds import SO3
        >>> default_encoder(ManifoldSpace(SO3(), (5, 3, 3)), 16).num_tokens
        5
        >>> default_encoder(DiscreteSpace(7, 3, mask=True), 16).num_tokens
        7
    """
    if isinstance(space, DiscreteSpace):
        return TokenEncoder(space.length, space.num_states, d_model)
    if isinstance(space, EuclideanSpace):
        return FeatureEncoder(space.event_shape, d_model)
    if isinstance(space, ManifoldSpace):
        return FeatureEncoder(space.event_shape, d_model, num_tokens=space.power)
    raise TypeError(
        f"no default encoder for a {type(space).__name__}: pass one explicitly "
        "(encoders={name: module}, a module with an int attribute num_tokens mapping a batch "
        "of the factor to (batch, num_tokens, d_model))"
    )
