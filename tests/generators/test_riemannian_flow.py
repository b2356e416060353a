"""Riemannian flow generator (GM eq. 9.10): L_t f, divergences, loss gradients, the oracle."""

import math

import geoopt
import pytest
import torch

from genmatch.divergences.riemannian import AmbientSquaredNorm, RiemannianSquaredNorm
from genmatch.generators import RiemannianFlowGenerator
from genmatch.loss import GeneratorMatchingLoss
from genmatch.manifolds import SO3, FlatTorus, Hypersphere
from genmatch.marginal import ExactMarginal
from genmatch.metrics import geodesic_distances, geodesic_mmd
from genmatch.nn import MLP
from genmatch.paths import GeodesicPath, PathSample
from genmatch.simulate import simulate
from genmatch.solvers import RiemannianEuler
from genmatch.sources import UniformSource, WrappedNormalSource
from genmatch.spaces import EuclideanSpace, ManifoldSpace, TangentVector

F64 = torch.float64


def _spaces():
    poincare = ManifoldSpace(geoopt.PoincareBall().to(F64), (2,))
    return [
        ("S2", ManifoldSpace(Hypersphere(3), (3,)), None),
        ("T2", ManifoldSpace(FlatTorus(2), (2,)), None),
        ("SO3", ManifoldSpace(SO3(), (3, 3)), None),
        ("poincare", poincare, WrappedNormalSource(poincare, torch.zeros(2, dtype=F64), 0.6)),
    ]


SPACES = _spaces()


@pytest.mark.parametrize("name,space,source", SPACES, ids=[s[0] for s in SPACES])
def test_generator_action_is_the_time_derivative_of_f(name, space, source):
    # d/dt f(X_t) = ⟨∇_g f, u_t⟩_g = L_t f along the conditional path (weak KFE per sample)
    g = torch.Generator().manual_seed(0)
    src = source if source is not None else UniformSource(space)
    x_0, x_1 = src.sample(16, generator=g, dtype=F64), src.sample(16, generator=g, dtype=F64)
    t = 0.1 + 0.8 * torch.rand(16, generator=g, dtype=F64)
    path, flow = GeodesicPath(space, source=src), RiemannianFlowGenerator(space)
    a = torch.randn(space.event_shape, generator=g, dtype=F64)

    def f(x):
        return torch.sin((x * a).reshape(x.shape[0], -1).sum(1)) + (x**2).reshape(
            x.shape[0], -1
        ).sum(1)

    sample = path.sample(x_1, t, x_0=x_0)
    value = flow.conditional_target(path, sample)
    lhs = flow.apply(f, sample.x_t, value)
    rhs = torch.func.jvp(lambda s: f(path.interpolate(x_0, x_1, s)), (t,), (torch.ones_like(t),))[1]
    assert torch.allclose(lhs, rhs, atol=1e-9)


@pytest.mark.parametrize("name,space,source", SPACES, ids=[s[0] for s in SPACES])
def test_constrain_projects_onto_tangent_space(name, space, source):
    flow = RiemannianFlowGenerator(space)
    src = source if source is not None else UniformSource(space)
    x = src.sample(8, generator=torch.Generator().manual_seed(1), dtype=F64)
    raw = torch.randn(x.shape, dtype=F64)
    assert flow.head_shapes(space) == {"velocity": space.event_shape}
    value = flow.constrain({"velocity": raw}, x, torch.zeros(8, dtype=F64))
    space.check_tangent(x, value.v)
    assert value.x is x


def test_metric_norm_versus_ambient_mse():
    poincare = ManifoldSpace(geoopt.PoincareBall().to(F64), (2,))
    x = torch.tensor([[0.5, 0.0], [0.0, -0.8]], dtype=F64)
    a, b = (
        TangentVector(x, torch.randn(2, 2, dtype=F64)),
        TangentVector(x, torch.zeros(2, 2, dtype=F64)),
    )
    lam = 2 / (1 - (x**2).sum(1))
    assert torch.allclose(
        RiemannianSquaredNorm(poincare)(a, b), lam**2 * AmbientSquaredNorm()(a, b)
    )
    s2 = ManifoldSpace(Hypersphere(3), (3,))
    y = UniformSource(s2).sample(4, generator=torch.Generator().manual_seed(0), dtype=F64)
    u, v = (TangentVector(y, s2.proju(y, torch.randn(4, 3, dtype=F64))) for _ in range(2))
    assert torch.allclose(RiemannianSquaredNorm(s2)(u, v), AmbientSquaredNorm()(u, v))


@pytest.mark.parametrize("div_cls", [RiemannianSquaredNorm, AmbientSquaredNorm])
def test_divergences_are_bregman(div_cls):
    space = ManifoldSpace(geoopt.PoincareBall().to(F64), (2,))
    div = div_cls(space) if div_cls is RiemannianSquaredNorm else div_cls()
    x = 0.5 * torch.rand(6, 2, dtype=F64)
    a, b = (
        TangentVector(x, torch.randn(6, 2, dtype=F64)),
        TangentVector(x, torch.randn(6, 2, dtype=F64)),
    )
    d = div(a, b)
    assert d.shape == (6,) and bool((d > 0).all())
    assert torch.allclose(div(a, a), torch.zeros(6, dtype=F64))
    assert torch.allclose(d, div.generic(a, b), atol=1e-12)
    with pytest.raises(TypeError, match="TangentVector"):
        div(a.v, b.v)


def test_cgm_and_gm_gradients_agree_on_s2():
    # GM Thm. 20: for fixed (x, t), Σ_i p(z_i|x) ∇D(u(x|z_i), F_θ) = ∇D(Σ_i p(z_i|x) u(x|z_i), F_θ)
    space = ManifoldSpace(Hypersphere(3), (3,))
    g = torch.Generator().manual_seed(0)
    data = UniformSource(space).sample(5, generator=g, dtype=F64)
    path, flow = GeodesicPath(space, bandwidth=0.05), RiemannianFlowGenerator(space)
    oracle = ExactMarginal(path, flow, data)
    x = path.sample(data[:1].expand(3, 3), torch.full((3,), 0.4, dtype=F64), generator=g).x_t
    t = torch.full((3,), 0.4, dtype=F64)
    torch.manual_seed(0)
    net = MLP(EuclideanSpace(3), flow.head_shapes(space), hidden=16, depth=2).double()
    post = oracle.posterior(x, t)
    assert torch.allclose(post.sum(1), torch.ones(3, dtype=F64))

    def grads(loss):
        net.zero_grad()
        loss.backward()
        return torch.cat([p.grad.reshape(-1) for p in net.parameters()])

    pred = flow.field(net)
    marginal = oracle(x, t)
    gm = grads(flow.divergence(marginal, pred(x, t)).sum())
    cgm = 0.0
    for i in range(5):
        target = flow.conditional_target(path, PathSample(x_t=x, t=t, z=data[i].expand(3, 3)))
        cgm = cgm + (post[:, i] * flow.divergence(target, pred(x, t))).sum()
    assert torch.allclose(gm, grads(cgm), atol=1e-10)


def test_loss_trains_and_rejects_unsupported_path():
    space = ManifoldSpace(Hypersphere(3), (3,))
    flow = RiemannianFlowGenerator(space)
    net = MLP(EuclideanSpace(3), flow.head_shapes(space), hidden=16, depth=2)
    loss_fn = GeneratorMatchingLoss(GeodesicPath(space), flow)
    data = UniformSource(space).sample(64, generator=torch.Generator().manual_seed(0))
    loss = loss_fn(net, data, generator=torch.Generator().manual_seed(1))
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    with pytest.raises(TypeError, match="no conditional target"):
        flow.conditional_target(object(), None)


def _vmf_clusters(space, n, g):
    centres = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]], dtype=F64)
    idx = torch.randint(3, (n,), generator=g)
    c = centres[idx]
    return space.expmap(c, 0.2 * space.proju(c, torch.randn(n, 3, generator=g, dtype=F64)))


def test_exact_marginal_oracle_reaches_the_data_on_s2():
    space = ManifoldSpace(Hypersphere(3), (3,))
    g = torch.Generator().manual_seed(0)
    data, held_out = _vmf_clusters(space, 60, g), _vmf_clusters(space, 300, g)
    flow = RiemannianFlowGenerator(space, solver=RiemannianEuler(space))
    oracle = ExactMarginal(GeodesicPath(space, bandwidth=1e-2), flow, data)
    x_0 = UniformSource(space).sample(300, generator=g, dtype=F64)
    x_1 = simulate(flow, oracle, x_0, 40, space=space).x
    space.check(x_1)
    mmd_oracle = geodesic_mmd(space, x_1, held_out)
    mmd_source = geodesic_mmd(space, x_0, held_out)
    # the oracle of a finite data set samples the data points themselves: its floor is a
    # resample (with replacement, so with duplicates) of the 60 points
    resample = data[torch.randint(60, (300,), generator=g)]
    mmd_floor = geodesic_mmd(space, resample, held_out)
    assert mmd_source > 0.3
    assert mmd_oracle < mmd_floor + 0.03
    nearest = geodesic_distances(space, x_1, data).min(1).values
    assert nearest.max() < 0.1  # the clipping at t_max = 0.99 leaves O(0.01 π)


@pytest.mark.parametrize(
    "manifold,shape,mean",
    [
        (geoopt.PoincareBall(), (2,), torch.zeros(2)),
        (geoopt.Lorentz(), (3,), torch.tensor([1.0, 0.0, 0.0])),
        (geoopt.SymmetricPositiveDefinite(), (2, 2), torch.eye(2)),
    ],
    ids=["poincare", "lorentz", "spd"],
)
def test_loss_on_non_compact_manifolds(manifold, shape, mean):
    # wrapped-normal source and data; the metric-norm loss is finite with finite gradients
    space = ManifoldSpace(manifold, shape)
    source = WrappedNormalSource(space, mean, 0.5)
    data = WrappedNormalSource(space, mean, 0.2).sample(
        32, generator=torch.Generator().manual_seed(0)
    )
    flow = RiemannianFlowGenerator(space)
    dim = int(torch.tensor(shape).prod())
    mlp = MLP(EuclideanSpace(dim), {"velocity": (dim,)}, hidden=16, depth=2)

    def net(x, t):
        return {"velocity": mlp(x.reshape(x.shape[0], -1), t)["velocity"].reshape(x.shape)}

    loss_fn = GeneratorMatchingLoss(GeodesicPath(space, source=source), flow)
    terms = loss_fn.terms(net, data, generator=torch.Generator().manual_seed(1))
    space.check(terms.sample.x_t)
    space.check_tangent(terms.sample.x_t, terms.target.v)
    terms.loss.backward()
    assert torch.isfinite(terms.loss) and terms.loss > 0
    assert all(torch.isfinite(p.grad).all() for p in mlp.parameters())


def test_exact_marginal_oracle_reaches_the_data_on_a_product():
    # S² × T¹: three clusters on the sphere, each with its own angle (2.0 for the north
    # cluster, −1.0 otherwise): the oracle must land on the data and keep the coupling
    product = geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(1), 1))
    space = ManifoldSpace(product, (4,))
    g = torch.Generator().manual_seed(0)
    sphere = _vmf_clusters(space.factors[0], 60, g)
    north = sphere[:, 2:] > 0.5
    angle = torch.where(north, 2.0, -1.0) + 0.2 * torch.randn(60, 1, generator=g, dtype=F64)
    data = space.join([sphere, angle])
    flow = RiemannianFlowGenerator(space, solver=RiemannianEuler(space))
    path = GeodesicPath(space, bandwidth=1e-2)
    oracle = ExactMarginal(path, flow, data)
    x_0 = path.source.sample(400, generator=g, dtype=F64)
    x_1 = simulate(flow, oracle, x_0, 80, space=space).x
    space.check(x_1)
    assert geodesic_distances(space, x_1, data).min(1).values.max() < 0.1  # on the data
    s_1, a_1 = space.split(x_1)
    assert torch.equal(s_1[:, 2] > 0.5, a_1[:, 0] > 0.5)  # the coupling of the factors
    p_data, p_model = float(north.double().mean()), float((s_1[:, 2] > 0.5).double().mean())
    assert abs(p_model - p_data) < 4 * math.sqrt(p_data * (1 - p_data) / 400)
    # the source has neither the clusters nor the coupling
    s_0, a_0 = space.split(x_0)
    assert float((s_0[:, 2] > 0.5).double().mean()) == pytest.approx(0.25, abs=0.1)
    assert float(((s_0[:, 2] > 0.5) == (a_0[:, 0] > 0.5)).double().mean()) < 0.8


def test_exact_marginal_oracle_on_a_power_keeps_the_coupling():
    # S²^2 as a power (2, 3): the second direction of each datum is a fixed rotation of the
    # first; the oracle's samples land on the data and keep that relation
    space = ManifoldSpace(Hypersphere(3), (2, 3))
    g = torch.Generator().manual_seed(0)
    first = _vmf_clusters(ManifoldSpace(Hypersphere(3), (3,)), 40, g)
    turn = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=F64)
    data = torch.stack([first, first @ turn.T], 1)
    flow = RiemannianFlowGenerator(space, solver=RiemannianEuler(space))
    path = GeodesicPath(space, bandwidth=1e-2)
    x_0 = path.source.sample(200, generator=g, dtype=F64)
    x_1 = simulate(flow, ExactMarginal(path, flow, data), x_0, 80, space=space).x
    space.check(x_1)
    assert geodesic_distances(space, x_1, data).min(1).values.max() < 0.1
    gap = (x_1[:, 1] - x_1[:, 0] @ turn.T).norm(dim=1)
    assert gap.max() < 0.1
    assert (x_0[:, 1] - x_0[:, 0] @ turn.T).norm(dim=1).mean() > 1.0  # not in the source


@pytest.mark.parametrize("div_cls", [RiemannianSquaredNorm, AmbientSquaredNorm])
def test_generic_divergence_is_differentiable_in_the_prediction(div_cls):
    """The autograd form keeps its graph: its gradient in the predicted vector is the closed
    form's (the loss trains through it), and a mixed pair is rejected naming both types."""
    space = ManifoldSpace(geoopt.PoincareBall().to(F64), (2,))
    div = div_cls(space) if div_cls is RiemannianSquaredNorm else div_cls()
    g = torch.Generator().manual_seed(0)
    x = 0.5 * torch.rand(6, 2, dtype=F64, generator=g)
    a = TangentVector(x, torch.randn(6, 2, dtype=F64, generator=g))
    w = torch.randn(6, 2, dtype=F64, generator=g, requires_grad=True)
    (g_closed,) = torch.autograd.grad(div(a, TangentVector(x, w)).sum(), w)
    (g_generic,) = torch.autograd.grad(div.generic(a, TangentVector(x, w)).sum(), w)
    torch.testing.assert_close(g_generic, g_closed)
    assert float(g_closed.abs().max()) > 1e-3
    for pair, names in [((a, w), "TangentVector and Tensor"), ((w, a), "Tensor and TangentVector")]:
        with pytest.raises(TypeError, match=f"^Riemannian divergences compare .*got {names}$"):
            div(*pair)
