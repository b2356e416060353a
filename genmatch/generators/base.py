"""Linear parametrizations (GM eq. 9.3) and the abstract generator."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from genmatch._checks import check_step_size, check_times_range
from genmatch._pairs import pair_up
from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.paths.base import AbstractConditionalPath, PathSample
from genmatch.spaces.base import AbstractStateSpace
from genmatch.types import Field, HeadShapes, Network, ParamValue, RawHeads, State

if TYPE_CHECKING:
    from genmatch.generators.jump_base import JumpProposal

#: A test function ``f: S → R`` acting on a batch: ``(batch, *event) → (batch,)``.
TestFunction = Callable[[State], Tensor]


def reuse_first(field: Field, x: State, t: Tensor, first: ParamValue) -> Field:
    """``field`` that returns the already computed ``first = field(x, t)`` when called again at
    exactly ``(x, t)`` (the same objects), so composite steps do not pay that evaluation twice."""

    def cached(y: State, s: Tensor) -> ParamValue:
        return first if (y is x and s is t) else field(y, s)

    return cached


def check_step(x: State, t: Tensor, h: float) -> None:
    """The inputs of a generator's step: ``h >= 0`` and (value checks on) ``t`` in ``[0, 1]``."""
    check_step_size(h)
    if isinstance(t, Tensor):
        check_times_range(t)


def same_shape_field(field: Field) -> Field:
    """``field`` whose tensor values must have the shape of the points they are evaluated at
    (flows, ODE solvers): a velocity of another shape would be broadcast silently."""

    def checked(y: Tensor, s: Tensor) -> Tensor:
        value = field(y, s)
        if isinstance(value, Tensor) and value.shape != y.shape:
            raise ValueError(
                f"the field returned a velocity of shape {tuple(value.shape)} for points of "
                f"shape {tuple(y.shape)}; it must have the shape of the points"
            )
        return value

    return checked


class UnsupportedPathError(TypeError):
    """Raised when a generator has no conditional target for a path."""


class AbstractLinearParametrization(abc.ABC):
    """A linear parametrization ``L_t f(x) = ⟨K f(x), F_t(x)⟩_x`` of a generator family.

    It holds the three pieces of GM eq. 9.3: the convex set ``Ω_x ⊂ V_x`` (through
    :meth:`constrain`, which maps raw network outputs into it), the operator ``K`` (through
    :meth:`test_operator`), and the inner product ``⟨·,·⟩_x`` (through :meth:`inner`).
    :meth:`apply` evaluates ``L_t f(x)`` for a test function, which the Kolmogorov-forward-
    equation checks use.
    """

    @abc.abstractmethod
    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        """Per-point shapes of the raw network outputs this parametrization consumes."""

    @abc.abstractmethod
    def constrain(self, raw: RawHeads, x_t: State, t: Tensor) -> ParamValue:
        """Map raw network outputs at ``(x_t, t)`` into ``Ω_x`` (identity, softplus, ...).

        ``t`` (``(batch,)``) is available for parametrizations whose map depends on time
        (e.g. an intensity with a known time factor, or superposition weights ``α_t``).
        """

    @abc.abstractmethod
    def test_operator(self, f: TestFunction, x_t: State) -> Tensor:
        """``K f(x)`` for each point of the batch, an element of ``V_x``."""

    @abc.abstractmethod
    def inner(self, a: Tensor, b: ParamValue, x_t: State) -> Tensor:
        """``⟨a, b⟩_x`` for each point; ``a = K f(x)``, ``b = F_t(x)``. Returns ``(batch,)``."""

    def apply(self, f: TestFunction, x_t: State, value: ParamValue) -> Tensor:
        """``L_t f(x) = ⟨K f(x), F_t(x)⟩_x`` (GM eq. 9.3). Returns ``(batch,)``."""
        return self.inner(self.test_operator(f, x_t), value, x_t)

    def scale(self, value: ParamValue, factor: Tensor) -> ParamValue:
        """``c F`` for a per-point factor ``c ≥ 0`` (``(batch,)``): the generator ``c L_t``.

        Used by superpositions ``Σ α_t^i L^i_t`` (GM Prop. 3); tensors are multiplied,
        structured values override this.
        """
        return factor.reshape(factor.shape + (1,) * (value.dim() - 1)) * value

    def posterior_mean(self, values: ParamValue, weights: Tensor) -> ParamValue:
        """``E_{Z|x}[F_t(x|Z)]`` (GM eq. 9.14) from per-latent values and posterior weights.

        The expectation is taken in the vector space ``V_x`` (the parametrization is linear),
        which for plain tensors is a weighted sum; structured values override this.

        Shapes:
            values: the values for every (point, latent) pair, point-major: batch
                ``batch * n``; weights: ``(batch, n)``, rows summing to 1; returns a value for
                ``batch`` points.
        """
        values = values.reshape(*weights.shape, *values.shape[1:])
        w = weights.reshape(weights.shape + (1,) * (values.dim() - 2))
        return (w * values).sum(1)


class AbstractGenerator(abc.ABC):
    """One kind of Markov process, parametrized linearly (GM §9.3).

    A generator knows its :class:`AbstractLinearParametrization`, its default Bregman
    divergence, its conditional target ``F_t(x|z)`` for the paths it supports (GM §9.6), and
    how to simulate one step ``x_t → x_{t+h}`` given a field ``(x, t) ↦ F_t(x)``.

    Concrete generators set the attributes ``parametrization``, ``divergence`` and
    ``nfe_per_step`` and implement the two abstract methods.

    A step splits into a *move* and *jumps*: :meth:`move` advances the points (by default the
    whole :meth:`step`), :meth:`propose` draws jumps from the value at the step's start (by
    default none); where a jump happens it overrides the move. Composition objects work through
    this split (:class:`~genmatch.compose.Superposition` moves with every part, then applies
    every part's jumps), so a new kind of process plugs in by overriding the two methods.
    """

    parametrization: AbstractLinearParametrization
    divergence: AbstractBregmanDivergence
    #: Number of field evaluations one :meth:`step` makes.
    nfe_per_step: int = 1

    @abc.abstractmethod
    def conditional_target(self, path: AbstractConditionalPath, sample: PathSample) -> ParamValue:
        """``F_t(x_t|z)``: the parametrization of a conditional generator of ``path`` (eq. 9.12).

        Raises:
            UnsupportedPathError: if this generator has no target for ``path``.
        """

    @abc.abstractmethod
    def step(
        self,
        field: Field,
        x: State,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> State:
        """Simulate ``x_t → x_{t+h}`` with the process whose parametrization is ``field``.

        Args:
            field: ``(x, t) ↦ F_t(x)`` (constrained values in ``Ω_x``).
            x: current points, ``(batch, *event)``.
            t: current times, ``(batch,)``.
            h: step size (``> 0`` forward in time).
            generator: random number generator for stochastic steps.
        """

    def move(
        self,
        field: Field,
        x: State,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> State:
        """The part of a step ``x_t → x_{t+h}`` that is not a jump drawn by :meth:`propose`.

        The whole :meth:`step` by default; a pure jump process does not move (it returns ``x``).
        Arguments as for :meth:`step`.
        """
        return self.step(field, x, t, h, generator=generator)

    def propose(
        self,
        value: ParamValue,
        x: State,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> JumpProposal | None:
        """The jumps over ``[t, t + h]`` drawn from the value ``F_t(x)`` at the step's start.

        ``None`` (the default) for a generator that does not act by jumps; jump processes
        (:class:`~genmatch.generators.AbstractJumpGenerator`) return a
        :class:`~genmatch.generators.JumpProposal`.
        """
        return None

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        """Raw network heads this generator needs (delegates to the parametrization)."""
        return self.parametrization.head_shapes(space)

    def constrain(self, raw: RawHeads, x_t: State, t: Tensor) -> ParamValue:
        """Raw network outputs → ``F^θ_t(x) ∈ Ω_x`` (delegates to the parametrization).

        Raises:
            TypeError: if ``raw`` is not a mapping of head names to tensors.
            ValueError: if a head the parametrization needs is missing.
        """
        if not isinstance(raw, Mapping):
            raise TypeError(
                f"a network must return its raw heads as a dict {{name: tensor}}, got "
                f"{type(raw).__name__}; {type(self).__name__} needs the heads of head_shapes"
            )
        try:
            return self.parametrization.constrain(raw, x_t, t)
        except KeyError as err:
            missing = err.args[0] if err.args else None
            if not isinstance(missing, str) or missing in raw or " " in missing:
                raise  # not a missing head name (or already explained)
            raise ValueError(
                f"{type(self).__name__} needs the head {missing!r}, but the network returned "
                f"the heads {sorted(raw)}"
            ) from None

    def field(self, net: Network, condition: object = None) -> Field:
        """Wrap a network returning raw heads into a field ``(x, t) ↦ F^θ_t(x)``.

        With a ``condition`` (a :class:`~genmatch.guidance.Condition` or a batch of conditions),
        the network is called as ``net(x, t, condition)``: the field ``F^θ_t(x | c)``.
        """
        constrain = self.constrain
        if condition is None:

            def field(x: State, t: Tensor) -> ParamValue:
                return constrain(net(x, t), x, t)

            return field

        def conditioned(x: State, t: Tensor) -> ParamValue:
            return constrain(net(x, t, condition), x, t)  # type: ignore[call-arg]

        return conditioned

    def apply(self, f: TestFunction, x_t: State, value: ParamValue) -> Tensor:
        """``L_t f(x)`` for the generator with parametrization ``value`` (GM eq. 9.3)."""
        return self.parametrization.apply(f, x_t, value)

    def marginal_target(
        self,
        path: AbstractConditionalPath,
        x: Tensor,
        t: Tensor,
        data: Tensor,
        posterior: Tensor,
    ) -> ParamValue:
        """``F_t(x) = Σ_n p(z_n|x) F_t(x|z_n)`` over a finite data set (GM eq. 9.14).

        The default evaluates the conditional target on all ``batch × N`` pairs and averages
        with :meth:`AbstractLinearParametrization.posterior_mean`; generators with structure
        (e.g. targets factorising over ``x`` and ``z``) override it with a cheaper contraction.

        Shapes:
            x: ``(batch, *event)``; t: ``(batch,)``; data: ``(N, *event)``;
            posterior: ``(batch, N)``, rows summing to 1.
        """
        x_rep, t_rep, z_rep = pair_up(x, t, data)
        values = self.conditional_target(path, PathSample(x_t=x_rep, t=t_rep, z=z_rep))
        return self.parametrization.posterior_mean(values, posterior)

    def unsupported(self, path: AbstractConditionalPath, needs: str) -> UnsupportedPathError:
        """The error to raise for a path this generator has no target for."""
        return UnsupportedPathError(
            f"{type(self).__name__} has no conditional target for {type(path).__name__}: "
            f"it needs a path implementing {needs}"
        )
