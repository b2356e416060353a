"""Flows on R^d and on manifolds: parametrizations, guidance, tilts, targets and steps.

Checks :mod:`genmatch.generators.flow` and :mod:`genmatch.generators.riemannian_flow` on
hand-computed values: heads, ``K f = ∇f`` and the inner products, classifier-free guidance,
the predictor tilt ``u + w b_t ∇log p(c|x)`` with ``b_t = σ_t(α̇_t σ_t/α_t − σ̇_t)``, the
conditional targets, one solver step and the errors a Riemannian step raises when it leaves
the manifold or its linear algebra fails.
"""

import math

import pytest
import torch

from genmatch import AffineGaussianPath, CondOT, EuclideanSpace, FlowGenerator, PathSample
from genmatch.divergences.riemannian import AmbientSquaredNorm, RiemannianSquaredNorm
from genmatch.divergences.squared_euclidean import SquaredEuclidean
from genmatch.generators import RiemannianFlowGenerator, UnsupportedPathError
from genmatch.generators.flow import VelocityParametrization
from genmatch.generators.riemannian_flow import TangentVelocityParametrization, _left_manifold
from genmatch.guidance.bound import BoundLikelihood
from genmatch.manifolds import FlatTorus, Hypersphere
from genmatch.paths import GeodesicPath
from genmatch.paths.kappa import LinearKappa
from genmatch.paths.mixture import MixturePath
from genmatch.solvers import RiemannianEuler
from genmatch.solvers.midpoint import Midpoint
from genmatch.solvers.rk4 import RK4
from genmatch.sources import GaussianSource
from genmatch.spaces import ManifoldSpace, TangentVector

D64 = torch.float64


def _t(v):
    return torch.tensor(v, dtype=D64)


def test_velocity_parametrization_heads_operator_and_inner():
    param = VelocityParametrization()
    assert param.head_shapes(EuclideanSpace(3)) == {"velocity": (3,)}
    with pytest.raises(TypeError, match="VelocityParametrization needs a space with an event_s"):
        param.head_shapes(object())
    raw = {"velocity": _t([[1.0, 2.0]])}
    assert param.constrain(raw, torch.zeros(1, 2), torch.zeros(1)) is raw["velocity"]
    x = _t([[[1.0, 2.0], [3.0, 0.0]]])  # events of shape (2, 2)

    def f(y):
        return (y**2).sum((1, 2)) + y[:, 0, 1] * y[:, 1, 0]

    grad = param.test_operator(f, x)
    assert grad.tolist() == [[[2.0, 7.0], [8.0, 0.0]]]
    u = _t([[[1.0, 1.0], [0.0, 2.0]]])
    assert param.apply(f, x, u).tolist() == [9.0]
    assert param.inner(_t([[1.0, 2.0], [3.0, 4.0]]), _t([[1.0, 0.0], [1.0, 1.0]]), x).tolist() == [
        1.0,
        7.0,
    ]
    guided = param.guide(_t([[1.0, 2.0]]), _t([[3.0, 2.0]]), _t([2.0]), x)
    assert guided.tolist() == [[-3.0, 2.0]]


def test_flow_tilt_adds_the_scaled_likelihood_gradient():
    param = VelocityParametrization()
    path = AffineGaussianPath(CondOT())
    x = _t([[1.0, -2.0], [0.5, 0.5], [3.0, 1.0]])
    t = _t([0.25, 0.5, 0.0])
    value = _t([[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
    bound = BoundLikelihood(lambda y, s: (y**2).sum(1), t)  # ∇ = 2y
    out = param.tilt(value, x, t, bound, _t([1.0, 2.0, 1.0]), path)
    # CondOT: b_t = (1 − t)((1 − t)/t + 1) = (1 − t)/t: 3 at t = 1/4, 1 at 1/2, 0 at α_t = 0
    b = _t([3.0, 2.0 * 1.0, 0.0])
    torch.testing.assert_close(out, value + b[:, None] * 2 * x, atol=1e-14, rtol=0)
    mixture = MixturePath(EuclideanSpace(2), GaussianSource(EuclideanSpace(2)), LinearKappa())
    with pytest.raises(TypeError, match="predictor guidance of a flow needs an AbstractGaussianP"):
        param.tilt(value, x, t, bound, _t([1.0, 1.0, 1.0]), mixture)


def test_flow_generator_construction_and_target():
    flow = FlowGenerator()
    assert flow.nfe_per_step == 1 and FlowGenerator(RK4()).nfe_per_step == 4
    assert flow.divergence == SquaredEuclidean()
    assert isinstance(flow.parametrization, VelocityParametrization)
    with pytest.raises(TypeError, match="solver must be a AbstractODESolver, got object"):
        FlowGenerator(solver=object())
    with pytest.raises(TypeError, match="divergence must be a AbstractBregmanDivergence, got obj"):
        FlowGenerator(divergence=object())
    path = AffineGaussianPath(CondOT())
    s = PathSample(x_t=_t([[0.5, 1.0]]), t=_t([0.5]), z=_t([[1.0, 3.0]]))
    assert flow.conditional_target(path, s).tolist() == [[1.0, 4.0]]  # (z − x)/(1 − t)
    with pytest.raises(UnsupportedPathError, match="needs a path implementing AbstractInterpo"):
        flow.conditional_target(object(), s)


def test_flow_step_uses_the_solver_and_checks_shapes():
    def field(y, s):
        return -y * s[:, None]

    x, t = _t([[1.0, 2.0]]), _t([0.5])
    assert FlowGenerator().step(field, x, t, 0.5).tolist() == [[0.75, 1.5]]
    # midpoint: y + h f(y + h/2 f(y, t), t + h/2) = 1 − 0.5·(1 − 0.125)·0.75
    mid = FlowGenerator(Midpoint()).step(field, x, t, 0.5)
    torch.testing.assert_close(mid, _t([[1.0, 2.0]]) * (1 - 0.5 * 0.75 * 0.875))
    with pytest.raises(ValueError, match=r"velocity of shape \(1, 1\) for points of shape \(1, 2"):
        FlowGenerator().step(lambda y, s: y[:, :1], x, t, 0.5)
    with pytest.raises(ValueError, match="the step size h must be >= 0"):
        FlowGenerator().step(field, x, t, -0.5)


SPHERE = ManifoldSpace(Hypersphere(3), (3,))


def test_tangent_parametrization_values():
    param = TangentVelocityParametrization(SPHERE)
    assert param.head_shapes(EuclideanSpace(7)) == {"velocity": (3,)}
    x = _t([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    raw = {"velocity": _t([[5.0, 1.0, 2.0], [1.0, 2.0, 3.0]])}
    v = param.constrain(raw, x, torch.zeros(2, dtype=D64))
    assert v.x is x and v.v.tolist() == [[0.0, 1.0, 2.0], [1.0, 2.0, 0.0]]

    def f(y):
        return y[:, 0] + 2 * y[:, 2]

    grad = param.test_operator(f, x)  # the ambient gradient (1, 0, 2) projected
    assert grad.tolist() == [[0.0, 0.0, 2.0], [1.0, 0.0, 0.0]]
    assert param.apply(f, x, v).tolist() == [4.0, 1.0]
    scaled = param.scale(v, _t([2.0, -1.0]))
    assert scaled.x is x and scaled.v.tolist() == [[0.0, 2.0, 4.0], [-1.0, -2.0, 0.0]]
    other = TangentVector(x, _t([[0.0, 3.0, 0.0], [0.0, 0.0, 0.0]]))
    guided = param.guide(v, other, _t([1.0, 0.5]), x)
    assert guided.x is x and guided.v.tolist() == [[0.0, -1.0, 4.0], [1.5, 3.0, 0.0]]
    # two latents per point, point-major: the mean is taken in T_xM at the shared base point
    pairs = TangentVector(
        x.repeat_interleave(2, 0), _t([[0, 1, 0], [0, 3, 0], [1, 0, 0], [0, 1, 0]])
    )
    mean = param.posterior_mean(pairs, _t([[0.5, 0.5], [0.25, 0.75]]))
    assert mean.x.tolist() == x.tolist()
    assert mean.v.tolist() == [[0.0, 2.0, 0.0], [0.25, 0.75, 0.0]]


def test_riemannian_generator_construction():
    gen = RiemannianFlowGenerator(SPHERE)
    assert isinstance(gen.solver, RiemannianEuler) and gen.solver.space is SPHERE
    assert isinstance(gen.divergence, RiemannianSquaredNorm)
    assert gen.divergence.space is SPHERE
    assert gen.parametrization.space is SPHERE and gen.nfe_per_step == 1
    ambient = AmbientSquaredNorm()
    assert RiemannianFlowGenerator(SPHERE, divergence=ambient).divergence is ambient
    solver = RiemannianEuler(SPHERE)
    assert RiemannianFlowGenerator(SPHERE, solver).solver is solver
    with pytest.raises(TypeError, match="space must be a ManifoldSpace, got EuclideanSpace"):
        RiemannianFlowGenerator(EuclideanSpace(3))
    other = ManifoldSpace(Hypersphere(3), (3,))
    with pytest.raises(ValueError, match="the solver must be built on the generator's space"):
        RiemannianFlowGenerator(SPHERE, RiemannianEuler(other))


def test_riemannian_target_and_step():
    torus = ManifoldSpace(FlatTorus(1), (1,))
    gen, path = RiemannianFlowGenerator(torus), GeodesicPath(torus)
    s = PathSample(x_t=_t([[0.5]]), t=_t([0.5]), z=_t([[1.5]]))
    target = gen.conditional_target(path, s)
    assert target.x is s.x_t and target.v[0, 0].item() == pytest.approx(2.0)  # log_x(z)/(1 − t)
    with pytest.raises(UnsupportedPathError, match="AbstractInterpolantPath"):
        gen.conditional_target(object(), s)
    x = _t([[1.0, 0.0, 0.0]])
    east = RiemannianFlowGenerator(SPHERE).step(
        lambda y, t: _t([[0.0, 1.0, 0.0]]), x, torch.zeros(1, dtype=D64), math.pi / 2
    )
    torch.testing.assert_close(east, _t([[0.0, 1.0, 0.0]]), atol=1e-12, rtol=0)


def test_riemannian_step_errors_name_time_and_step():
    gen = RiemannianFlowGenerator(SPHERE)
    x, t = _t([[1.0, 0.0, 0.0]]), _t([0.25])
    with pytest.raises(ValueError, match="the step size"):
        gen.step(lambda y, s: torch.zeros_like(y), x, t, -0.1)
    with pytest.raises(ValueError):
        gen.step(lambda y, s: torch.zeros_like(y), 2 * x, t, 0.1)  # off the sphere
    with pytest.raises(FloatingPointError, match=r"a Hypersphere step from t=0.25 with h=0.1 left"):
        gen.step(lambda y, s: torch.full_like(y, math.nan), x, t, 0.1)

    def linalg(y, s):
        raise RuntimeError("torch.linalg.eigh: failed to converge\nthe last line")

    with pytest.raises(FloatingPointError, match=r"left the manifold \(the last line\)") as info:
        gen.step(linalg, x, t, 0.1)
    assert isinstance(info.value.__cause__, RuntimeError)

    def lin_alg_error(y, s):
        raise torch.linalg.LinAlgError("not positive-definite")

    with pytest.raises(FloatingPointError, match=r"\(not positive-definite\)"):
        gen.step(lin_alg_error, x, t, 0.1)

    def other(y, s):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="^shape mismatch$"):
        gen.step(other, x, t, 0.1)


def test_left_manifold_message():
    msg = _left_manifold(SPHERE, _t([[0.5], [0.7]]), 0.125, "first\nsecond")
    assert msg.startswith("a Hypersphere step from t=0.5 with h=0.125 left the manifold (second).")
    assert "use float64, smaller steps, or a field of bounded Riemannian norm" in msg
    assert "left the manifold (). The velocity" in _left_manifold(SPHERE, _t([0.5]), 0.1, "")


def test_flow_messages_and_time_checks_in_full():
    param = VelocityParametrization()
    x, t = _t([[1.0, 2.0]]), _t([0.5])
    bound = BoundLikelihood(lambda y, s: y.sum(1), t)
    mixture = MixturePath(EuclideanSpace(2), GaussianSource(EuclideanSpace(2)), LinearKappa())
    with pytest.raises(
        TypeError, match=r"^predictor guidance of a flow needs an AbstractGaussianPath, got Mixt"
    ):
        param.tilt(x, x, t, bound, _t([1.0]), mixture)
    with pytest.raises(ValueError, match=r"^t must lie in \[0, 1\]; got values such as \[1.5\]$"):
        FlowGenerator().step(lambda y, s: y, x, _t([1.5]), 0.5)


def test_riemannian_messages_in_full():
    gen = RiemannianFlowGenerator(SPHERE)
    x, t = _t([[1.0, 0.0, 0.0]]), _t([0.25])
    with pytest.raises(ValueError, match=r"^the solver must be built on the generator's space$"):
        RiemannianFlowGenerator(SPHERE, RiemannianEuler(ManifoldSpace(Hypersphere(3), (3,))))
    s = PathSample(x_t=x, t=t, z=x)
    with pytest.raises(
        UnsupportedPathError,
        match=r"^RiemannianFlowGenerator has no conditional target for object: it needs a path "
        r"implementing AbstractInterpolantPath\.conditional_velocity$",
    ):
        gen.conditional_target(object(), s)
    with pytest.raises(ValueError, match=r"^t must lie in \[0, 1\]; got values such as \[1.5\]$"):
        gen.step(lambda y, s: torch.zeros_like(y), x, _t([1.5]), 0.1)
    with pytest.raises(
        ValueError, match=r"^x is not on Hypersphere: \|x\| != 1 \(max deviation 1.00e\+00, atol"
    ):
        gen.step(lambda y, s: torch.zeros_like(y), 2 * x, t, 0.1)
    with pytest.raises(
        FloatingPointError,
        match=r"^a Hypersphere step from t=0.25 with h=0.1 left the manifold \(the step's result "
        r"contains NaN or Inf values\)\. The velocity field is probably unbounded in the metric "
        r"there \(an exact flow can reach the boundary of SPD or infinity on hyperbolic space in "
        r"finite time\), or float32 rounding built up: use float64, smaller steps, or a field of "
        r"bounded Riemannian norm$",
    ):
        gen.step(lambda y, s: torch.full_like(y, math.nan), x, t, 0.1)
