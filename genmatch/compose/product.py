"""The generator of a product space: the sum of per-factor generators (GM §9.8)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.generators.base import (
    AbstractGenerator,
    AbstractLinearParametrization,
    TestFunction,
    UnsupportedPathError,
    reuse_first,
)
from genmatch.guidance.base import AbstractGuidableParametrization, AbstractTiltableParametrization
from genmatch.guidance.bound import BoundLikelihood
from genmatch.paths.base import AbstractConditionalPath, PathSample
from genmatch.paths.product import ProductPath, factor_sample
from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.product import ProductSpace, check_same_factors, factor_times, per_factor
from genmatch.types import Field, HeadShapes, ParamValue, RawHeads, State

#: The separator of a product's head names: ``"factor/head"``.
HEAD_SEPARATOR = "/"


@final
@dataclass(frozen=True)
class ProductValue:
    """The parametrization of a product generator: one value per factor.

    Attributes:
        parts: ``{name: F^k_t(x)}``, each factor's own value.
        loss_weights: per-factor weights ``(batch,)`` of the training loss, carried by
            conditional targets only (``None`` means 1): a factor at ``t = 1`` (held as a
            condition) has weight 0, as its conditional generator does not act on ``p_1``.
    """

    parts: dict[str, ParamValue]
    loss_weights: dict[str, Tensor] | None = None

    def __getitem__(self, name: str) -> ParamValue:
        return self.parts[name]


def _others_repeated(space: ProductSpace, x: State, name: str, y: State) -> dict[str, State]:
    """``x`` with factor ``name`` replaced by ``y``, a batch of ``m·B`` points (point-major)."""
    b = space.batch_size(x)
    m = space.factors[name].batch_size(y) // b
    if m == 1:
        return {**x, name: y}
    ref = space.reference(x)
    index = torch.arange(b, device=ref.device).repeat_interleave(m)
    others = {k: s.take(x[k], index) for k, s in space.factors.items() if k != name}
    return {**others, name: y}


@final
@dataclass(frozen=True, eq=False)
class ProductParametrization(
    AbstractLinearParametrization, AbstractGuidableParametrization, AbstractTiltableParametrization
):
    """``L_t f(x) = Σ_k ⟨K_k f(x), F^k_t(x)⟩``: each factor's parametrization acting on its
    own coordinates (``K_k`` differentiates ``f`` in factor ``k`` with the others fixed).

    Heads are namespaced: factor ``k``'s head ``h`` is the raw head ``"k/h"``. A factor's
    ``test_operator`` may evaluate ``f`` on ``m·B`` points (neighbours, atoms), point-major; the
    other factors are repeated to match.
    """

    space: ProductSpace
    parts: dict[str, AbstractLinearParametrization]

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        if space is not self.space and not (
            isinstance(space, ProductSpace) and space.factors == self.space.factors
        ):
            raise ValueError("head_shapes needs the product space the generator was built on")
        return {
            f"{k}{HEAD_SEPARATOR}{h}": shape
            for k, part in self.parts.items()
            for h, shape in part.head_shapes(self.space.factors[k]).items()
        }

    def constrain(self, raw: RawHeads, x_t: State, t: Tensor) -> ProductValue:
        times = factor_times(t, self.space.names)
        out = {}
        for k, part in self.parts.items():
            prefix = f"{k}{HEAD_SEPARATOR}"
            heads = {name[len(prefix) :]: v for name, v in raw.items() if name.startswith(prefix)}
            if not heads:
                raise KeyError(
                    f"the network returned no head for factor {k!r} (expected heads named "
                    f"'{prefix}...', got {sorted(raw)})"
                )
            out[k] = part.constrain(heads, x_t[k], times[k])
        return ProductValue(out)

    def test_operator(self, f: TestFunction, x_t: State) -> dict[str, object]:  # type: ignore[override]
        def in_factor(name: str) -> TestFunction:
            return lambda y: f(_others_repeated(self.space, x_t, name, y))

        return {k: part.test_operator(in_factor(k), x_t[k]) for k, part in self.parts.items()}

    def inner(self, a: dict[str, object], b: ProductValue, x_t: State) -> Tensor:  # type: ignore[override]
        terms = [part.inner(a[k], b.parts[k], x_t[k]) for k, part in self.parts.items()]  # type: ignore[arg-type]
        return torch.stack(terms).sum(0)

    def scale(self, value: ProductValue, factor: Tensor) -> ProductValue:
        parts = {k: part.scale(value.parts[k], factor) for k, part in self.parts.items()}
        return ProductValue(parts, value.loss_weights)

    def posterior_mean(self, values: ProductValue, weights: Tensor) -> ProductValue:
        parts = {k: part.posterior_mean(values.parts[k], weights) for k, part in self.parts.items()}
        return ProductValue(parts)

    def guide(
        self, conditional: ProductValue, unconditional: ProductValue, weight: object, x_t: State
    ) -> ProductValue:
        """Factor by factor, each by its own rule, with per-factor weights (``{name: (batch,)}``)
        or one ``(batch,)`` weight for all."""
        out = {}
        for k, part in self.parts.items():
            if not isinstance(part, AbstractGuidableParametrization):
                raise TypeError(f"factor {k!r} ({type(part).__name__}) has no guidance rule")
            w = weight[k] if isinstance(weight, Mapping) else weight
            out[k] = part.guide(conditional.parts[k], unconditional.parts[k], w, x_t[k])
        return ProductValue(out)

    def tilt(
        self,
        value: ProductValue,
        x_t: State,
        t: object,
        log_likelihood: BoundLikelihood,
        weight: object,
        path: AbstractConditionalPath,
    ) -> ProductValue:
        """Each factor's generator tilted by the joint likelihood as a function of that factor
        (the others held at ``x_t``): the sum of the tilted factor generators is the tilt of
        the product generator, as each changes one factor at a time."""
        if not isinstance(path, ProductPath):
            raise TypeError(f"a product is tilted with its ProductPath, got {type(path).__name__}")
        times = factor_times(t, self.space.names)
        out = {}
        for k, part in self.parts.items():
            if not isinstance(part, AbstractTiltableParametrization):
                raise TypeError(f"factor {k!r} ({type(part).__name__}) has no predictor tilt")
            w = weight[k] if isinstance(weight, Mapping) else weight

            def embed(y: State, name: str = k) -> State:
                return _others_repeated(self.space, x_t, name, y)

            in_factor = log_likelihood.within(embed, k)
            out[k] = part.tilt(value.parts[k], x_t[k], times[k], in_factor, w, path.paths[k])
        return ProductValue(out)


@final
@dataclass(frozen=True, eq=False)
class ProductDivergence(AbstractBregmanDivergence):
    """``D(a, b) = Σ_k w_k ℓ_k D_k(a_k, b_k)``: the factors' Bregman divergences, weighted.

    ``w_k > 0`` are the product's constant loss weights and ``ℓ_k`` the per-sample weights the
    target carries (0 for a factor held at ``t = 1``). A positively weighted sum of Bregman
    divergences on a product of convex sets is the Bregman divergence of the summed
    potential, so GM Thm. 20 holds for the joint loss.
    """

    parts: dict[str, AbstractBregmanDivergence]
    weights: dict[str, float]

    def terms(self, a: ProductValue, b: ProductValue) -> dict[str, Tensor]:  # type: ignore[override]
        """Each factor's weighted term ``w_k ℓ_k D_k(a_k, b_k)``, ``(batch,)`` each."""
        out = {}
        for k, d in self.parts.items():
            term = d(a.parts[k], b.parts[k])
            if a.loss_weights is not None:
                term = a.loss_weights[k] * term
            out[k] = term if self.weights[k] == 1.0 else self.weights[k] * term
        return out

    def phi(self, a: ProductValue) -> Tensor:  # type: ignore[override]
        return torch.stack(
            [self.weights[k] * d.phi(a.parts[k]) for k, d in self.parts.items()]
        ).sum(0)

    def __call__(self, a: ProductValue, b: ProductValue) -> Tensor:  # type: ignore[override]
        return torch.stack(list(self.terms(a, b).values())).sum(0)

    def generic(self, a: ProductValue, b: ProductValue) -> Tensor:  # type: ignore[override]
        terms = [self.weights[k] * d.generic(a.parts[k], b.parts[k]) for k, d in self.parts.items()]
        return torch.stack(terms).sum(0)


@final
@dataclass(frozen=True, eq=False, init=False)
class ProductGenerator(AbstractGenerator):
    """``L_t = Σ_k L^k_{t_k}``: one generator per factor of a product space, each acting on its
    own factor with its own time (GM §9.8).

    Any generator can be a factor: flows, diffusions, jumps, CTMCs, Riemannian flows, and
    their superpositions, Langevin additions and correctors.

    Training: the network outputs every factor's heads, namespaced ``"factor/head"``; the
    conditional target of a :class:`~genmatch.paths.ProductPath` is every factor's own target
    (factorised path), and the loss is the weighted sum of the factors' Bregman divergences
    (:class:`ProductDivergence`, whose :meth:`~ProductDivergence.terms` the loss reports per
    factor). A factor at ``t = 1`` (pinned as a condition by a time sampler such as
    :class:`~genmatch.time.PinnedTimes`) has loss weight 0: its target is not needed, so it is
    computed at ``t = 1/2`` to stay finite, and the network learns the other factors given it.

    Sampling: one field evaluation at ``(x, t)`` feeds every factor; each factor then takes
    its own step on its own clock (``h`` per factor; a factor with ``h = 0``, e.g. held at its
    data value, does not move). A factor whose solver makes several evaluations a step
    (midpoint, RK4) evaluates the field at its stage points with the other factors held at
    their values at the start of the step, so ``nfe_per_step = 1 + Σ_k (nfe_k − 1)``; with
    Euler-type factors a step costs one network evaluation.

    Args:
        space: the product space.
        generators: one generator per factor of ``space``.
        loss_weights: constant positive weights of the factors' loss terms, ``{name: w}``
            (factors not named weigh 1), e.g. edges 5× nodes, translations 2× rotations.

    Example:
        >>> from genmatch import CTMCGenerator, FlowGenerator, LinearKappa
        >>> from genmatch.spaces import DiscreteSpace, EuclideanSpace, ProductSpace
        >>> tokens = DiscreteSpace(1, 3, mask=True)
        >>> space = ProductSpace({"x": EuclideanSpace(2), "label": tokens})
        >>> gen = ProductGenerator(
        ...     space, {"x": FlowGenerator(), "label": CTMCGenerator(tokens, LinearKappa())})
        >>> gen.head_shapes(space)
        {'x/velocity': (2,), 'label/logits': (1, 4)}
    """

    space: ProductSpace
    generators: dict[str, AbstractGenerator]
    loss_weights: dict[str, float]
    parametrization: ProductParametrization
    divergence: ProductDivergence

    def __init__(
        self,
        space: ProductSpace,
        generators: Mapping[str, AbstractGenerator],
        loss_weights: Mapping[str, float] | None = None,
    ) -> None:
        gens = per_factor(space, generators, AbstractGenerator, "generators")
        weights = {name: 1.0 for name in space.names}
        if loss_weights is not None:
            unknown = sorted(set(loss_weights) - set(space.names))
            if unknown:
                raise ValueError(f"loss_weights names unknown factors {unknown}")
            for name, w in loss_weights.items():
                if isinstance(w, bool) or not isinstance(w, (int, float)) or not w > 0:
                    raise ValueError(f"loss_weights[{name!r}] must be a number > 0, got {w!r}")
                weights[name] = float(w)
        object.__setattr__(self, "space", space)
        object.__setattr__(self, "generators", gens)
        object.__setattr__(self, "loss_weights", weights)
        object.__setattr__(
            self,
            "parametrization",
            ProductParametrization(space, {k: g.parametrization for k, g in gens.items()}),
        )
        object.__setattr__(
            self,
            "divergence",
            ProductDivergence({k: g.divergence for k, g in gens.items()}, weights),
        )

    @property
    def nfe_per_step(self) -> int:  # type: ignore[override]
        return 1 + sum(max(g.nfe_per_step - 1, 0) for g in self.generators.values())

    def _product_path(self, path: AbstractConditionalPath) -> ProductPath:
        if not isinstance(path, ProductPath):
            raise UnsupportedPathError(
                f"ProductGenerator needs a ProductPath, got {type(path).__name__}"
            )
        check_same_factors(path.names, self.space.names, "the path")
        return path

    def conditional_target(self, path: AbstractConditionalPath, sample: PathSample) -> ProductValue:
        paths = self._product_path(path).paths
        parts, weights = {}, {}
        for k, gen in self.generators.items():
            s = factor_sample(sample, k)
            active = s.t < 1
            safe = PathSample(x_t=s.x_t, t=torch.where(active, s.t, 0.5), z=s.z, x_0=s.x_0)
            parts[k] = gen.conditional_target(paths[k], safe)
            weights[k] = active.to(s.t.dtype)
        return ProductValue(parts, weights)

    def marginal_target(
        self,
        path: AbstractConditionalPath,
        x: State,
        t: Tensor,
        data: State,
        posterior: Tensor,
    ) -> ProductValue:
        """Factor ``k`` of ``F_t(x) = Σ_n p(z_n|x) F_t(x|z_n)`` is ``Σ_n p(z_n|x) F^k(x_k|z_{n,k})``
        with the posterior of the whole product (GM eq. 9.13–9.14)."""
        paths = self._product_path(path).paths
        times = factor_times(t, self.space.names)
        return ProductValue(
            {
                k: gen.marginal_target(paths[k], x[k], times[k], data[k], posterior)
                for k, gen in self.generators.items()
            }
        )

    def step(
        self,
        field: Field,
        x: State,
        t: Tensor | Mapping[str, Tensor],
        h: float | Mapping[str, float],
        *,
        generator: torch.Generator | None = None,
    ) -> State:
        """One step of every factor on its own clock: ``t`` and ``h`` per factor (or shared)."""
        names = self.space.names
        times = factor_times(t, names)
        sizes = factor_times(h, names)
        first = field(x, times)
        out = {}
        for k, gen in self.generators.items():
            if sizes[k] == 0:
                out[k] = x[k]
                continue
            out[k] = gen.step(
                self._factor_field(field, k, x, times, first),
                x[k],
                times[k],
                sizes[k],
                generator=generator,
            )
        return out

    def _factor_field(
        self, field: Field, name: str, x: State, times: dict[str, object], first: ProductValue
    ) -> Field:
        def evaluate(y: State, s: Tensor) -> ParamValue:
            return field({**x, name: y}, {**times, name: s}).parts[name]

        return reuse_first(evaluate, x[name], times[name], first.parts[name])  # type: ignore[arg-type]
