"""Type aliases shared across genmatch.

Glossary (symbol → name used in code):

========================  ==========================================
maths (GM chapter)        code
========================  ==========================================
``X_t``, ``x``            ``x_t`` — a batch of points, ``(batch, *event)``
``t``                     ``t`` — times in [0, 1], ``(batch,)``
``Z`` (``z``)             ``z`` — conditioning variable (a data point)
``X_0 ~ p``               ``x_0`` — source sample
``X_1 ~ q``               ``x_1`` — data sample
``F_t(x)`` (eq. 9.3)      the *parametrization value*, e.g. ``velocity``
``F_t(x|z)`` (eq. 9.12)   ``conditional_target(path, sample)``
``α_t, σ_t`` (eq. 9.1)    ``alpha_t``, ``sigma_t``, ``d_alpha_t``, ``d_sigma_t``
``κ_t`` (eq. 9.2)         ``kappa_t``, ``d_kappa_t``
``D_x(a, b)`` (eq. 9.15)  ``BregmanDivergence.__call__(a, b)``
``L_t f(x)`` (eq. 9.3)    ``LinearParametrization.apply(f, x_t, value)``
========================  ==========================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from torch import Tensor

#: A batch of points of a state space. A tensor ``(batch, *event)`` for most spaces;
#: structured spaces (products, graphs) use their own containers.
State: TypeAlias = Any

#: Times of a batch: a ``(batch,)`` tensor; on a product space, one per factor
#: (``{name: (batch,)}``, nested for nested products).
Times: TypeAlias = Any

#: Raw outputs of a network: one tensor per head, ``(batch, *head_shape)``.
RawHeads: TypeAlias = Mapping[str, Tensor]

#: A value of a linear parametrization ``F_t(x) ∈ Ω_x`` for a batch of points: a tensor for
#: most generators, a frozen dataclass of tensors for structured ones.
ParamValue: TypeAlias = Any

#: A field ``(x_t, t) ↦ F_t(x_t)``: a trained network wrapped by its generator, or an oracle.
Field: TypeAlias = Callable[[State, Times], ParamValue]

#: A network ``(x_t, t) ↦ raw heads``.
Network: TypeAlias = Callable[[State, Times], RawHeads]

#: Per-point shapes of the raw outputs a generator needs, by head name.
HeadShapes: TypeAlias = Mapping[str, tuple[int, ...]]
