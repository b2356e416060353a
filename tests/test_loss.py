"""The conditional generator-matching loss (GM eq. 9.17) and Theorem 20."""

import pytest
import torch
from torch import nn

from genmatch import (
    MLP,
    AffineGaussianPath,
    CondOT,
    Cosine,
    EuclideanSpace,
    ExactMarginal,
    ExactOTCoupling,
    FlowGenerator,
    GaussianSource,
    GeneralizedKL,
    GeneratorMatchingLoss,
    KLDivergence,
    LogitNormalTime,
    PathSample,
    SquaredEuclidean,
)


class Affine(nn.Module):
    """A tiny model F^θ_t(x) = W [x, t] + b with one head, to differentiate through."""

    def __init__(self, d, head="velocity", positive=False):
        super().__init__()
        self.lin = nn.Linear(d + 1, d).double()
        self.head, self.positive = head, positive

    def forward(self, x, t):
        out = self.lin(torch.cat([x, t[:, None]], 1))
        return {self.head: nn.functional.softplus(out) if self.positive else out}


def _grads(loss, net):
    return torch.cat(
        [
            g.reshape(-1)
            for g in torch.autograd.grad(loss, list(net.parameters()), retain_graph=True)
        ]
    )


@pytest.mark.parametrize("schedule", [CondOT(), Cosine()], ids=repr)
def test_theorem_20_flow(schedule):
    """At fixed (t, x): E_{Z~p(Z|x,t)} ∇_θ D(u(x|Z), u^θ(x)) = ∇_θ D(u(x), u^θ(x)).

    u is the exact marginal of a finite data set."""
    rng = torch.Generator().manual_seed(0)
    data = torch.randn(50, 2, dtype=torch.float64, generator=rng)
    path, flow = AffineGaussianPath(schedule), FlowGenerator()
    oracle = ExactMarginal(path, flow, data)
    torch.manual_seed(0)
    net = Affine(2)
    x = torch.randn(6, 2, dtype=torch.float64, generator=rng)
    t = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.8, 0.95], dtype=torch.float64)
    weights = oracle.posterior(x, t)  # (6, 50)
    pred = flow.constrain(net(x, t), x, t)
    n = data.shape[0]
    x_rep, t_rep = x.repeat_interleave(n, 0), t.repeat_interleave(n)
    z_rep = data.repeat(6, 1)
    cond = flow.conditional_target(path, PathSample(x_t=x_rep, t=t_rep, z=z_rep))
    cgm = (weights.reshape(-1) * flow.divergence(cond, pred.repeat_interleave(n, 0))).sum()
    gm = flow.divergence(oracle(x, t), pred).sum()
    g_cgm, g_gm = _grads(cgm, net), _grads(gm, net)
    torch.testing.assert_close(g_cgm, g_gm, rtol=1e-9, atol=1e-11)
    assert g_gm.abs().max() > 1e-3
    # the losses themselves differ by a θ-independent constant (the conditional variance)
    assert float(cgm.detach()) > float(gm.detach())


@pytest.mark.parametrize(
    "divergence", [GeneralizedKL(), KLDivergence(), SquaredEuclidean()], ids=repr
)
def test_theorem_20_every_divergence(divergence):
    """Same identity with a non-negative / simplex-valued parametrization and posterior weights."""
    rng = torch.Generator().manual_seed(1)
    k, d = 9, 4
    if isinstance(divergence, KLDivergence):
        targets = torch.softmax(torch.randn(k, d, dtype=torch.float64, generator=rng), 1)
    else:
        targets = torch.rand(k, d, dtype=torch.float64, generator=rng) * 2
    weights = torch.softmax(torch.randn(k, dtype=torch.float64, generator=rng), 0)
    torch.manual_seed(1)
    net = Affine(d, positive=not isinstance(divergence, SquaredEuclidean))
    x = torch.randn(1, d, dtype=torch.float64, generator=rng)
    t = torch.tensor([0.4], dtype=torch.float64)
    pred = net(x, t)["velocity"]
    if isinstance(divergence, KLDivergence):
        pred = torch.softmax(pred, 1)
    cgm = (weights * divergence(targets, pred.expand(k, d))).sum()
    gm = divergence((weights[:, None] * targets).sum(0, keepdim=True), pred).sum()
    torch.testing.assert_close(_grads(cgm, net), _grads(gm, net), rtol=1e-9, atol=1e-12)


def test_loss_matches_hand_written_flow_matching():
    rng = torch.Generator().manual_seed(0)
    space = EuclideanSpace(2)
    flow = FlowGenerator()
    net = MLP(space, flow.head_shapes(space), hidden=16).double()
    x_1 = torch.randn(32, 2, dtype=torch.float64, generator=rng)
    x_0 = torch.randn(32, 2, dtype=torch.float64, generator=rng)
    t = torch.rand(32, dtype=torch.float64, generator=rng)
    loss = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow)(net, x_1, x_0=x_0, t=t)
    x_t = t[:, None] * x_1 + (1 - t[:, None]) * x_0
    expected = ((net(x_t, t)["velocity"] - (x_1 - x_0)) ** 2).sum(1).mean()
    torch.testing.assert_close(loss, expected)


def test_weighting_time_sampler_source_and_coupling():
    rng = torch.Generator().manual_seed(0)
    space = EuclideanSpace(2)
    flow = FlowGenerator()
    net = MLP(space, flow.head_shapes(space), hidden=16)
    loss_fn = GeneratorMatchingLoss(
        AffineGaussianPath(CondOT()),
        flow,
        time_sampler=LogitNormalTime(0.5, 0.3),
        weighting=lambda t: 1 + t,
        coupling=ExactOTCoupling(),
        source=GaussianSource(space),
    )
    terms = loss_fn.terms(net, torch.randn(64, 2, generator=rng) + 4, generator=rng)
    raw = flow.divergence(terms.target, terms.prediction)
    torch.testing.assert_close(terms.per_sample, (1 + terms.sample.t) * raw)
    assert terms.loss.shape == () and bool(torch.isfinite(terms.loss))
    # the sampler's times are used: logit(t) has mean 0.5 and std 0.3 (SE 0.04 and 0.03 at
    # n = 64), far from the default LogitNormalTime(0, 1) and from uniform times
    logit = torch.logit(terms.sample.t)
    assert abs(float(logit.mean()) - 0.5) < 5 * 0.3 / 8
    assert abs(float(logit.std()) - 0.3) < 5 * 0.3 / 128**0.5
    # OT pairing shortens the mean transport distance relative to the independent pairing
    assert ((terms.sample.z - terms.sample.x_0) ** 2).sum(1).mean() < 32 + 8


def test_gradcheck_through_loss():
    rng = torch.Generator().manual_seed(0)
    flow = FlowGenerator()
    x_1 = torch.randn(5, 2, dtype=torch.float64, generator=rng)
    x_0 = torch.randn(5, 2, dtype=torch.float64, generator=rng)
    t = torch.rand(5, dtype=torch.float64, generator=rng)
    w = torch.randn(2, 2, dtype=torch.float64, generator=rng, requires_grad=True)
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(Cosine()), flow)
    assert torch.autograd.gradcheck(
        lambda w: loss_fn(lambda x, t: {"velocity": x @ w}, x_1, x_0=x_0, t=t), (w,)
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"t": 1.5}, ValueError, r"\[0, 1\]"),
        ({"t": torch.full((8,), -0.1)}, ValueError, r"\[0, 1\]"),
        ({"t": torch.zeros(3)}, ValueError, "shape"),
        ({"x_0": torch.zeros(8, 3)}, ValueError, "same shape"),
        ({"x_0": torch.zeros(8, 2, dtype=torch.float64)}, TypeError, "dtype"),
        ({"t": torch.zeros(8, dtype=torch.float64)}, TypeError, "dtype"),
    ],
)
def test_bad_input_raises(kwargs, error, match):
    flow = FlowGenerator()
    net = MLP(EuclideanSpace(2), flow.head_shapes(EuclideanSpace(2)), hidden=8)
    with pytest.raises(error, match=match):
        GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow)(net, torch.zeros(8, 2), **kwargs)


def test_coupling_without_source_raises():
    flow = FlowGenerator()
    net = MLP(EuclideanSpace(2), flow.head_shapes(EuclideanSpace(2)), hidden=8)
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow, coupling=ExactOTCoupling())
    with pytest.raises(ValueError, match="needs x_0 or a source"):
        loss_fn(net, torch.zeros(8, 2))
