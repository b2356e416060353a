"""Product generators (GM §9.8): forward equation jointly, Thm 20, steps, oracle, conditionals."""

import dataclasses
import itertools

import pytest
import torch
from torch import nn

from genmatch import (
    AffineGaussianPath,
    CategoricalSource,
    CondOT,
    CTMCGenerator,
    DiscreteSpace,
    EuclideanSpace,
    ExactMarginal,
    ExactOTCoupling,
    FactorizedMixturePath,
    FlowGenerator,
    GeneratorMatchingLoss,
    LinearKappa,
    ManifoldSpace,
    RiemannianFlowGenerator,
    TimeGrid,
    UnsupportedPathError,
    simulate,
)
from genmatch._pairs import pair_up
from genmatch.compose.product import ProductGenerator
from genmatch.data import LabelledMixture
from genmatch.data.labelled import conditional_scores
from genmatch.generators import AbstractGenerator, CTMCHead
from genmatch.manifolds import SO3, Hypersphere
from genmatch.metrics import energy_distance
from genmatch.nn import ProductMLP
from genmatch.paths import GeodesicPath, PathSample
from genmatch.paths.product import ProductPath
from genmatch.solvers import RK4
from genmatch.sources import UniformSource
from genmatch.spaces import ProductSpace
from genmatch.testing import DensityPoints, MovingPoints, check_forward_equation
from genmatch.time import FactorGrids, IndependentTimes, PinnedTimes
from genmatch.training import train

F64 = torch.float64


def _tokens_model(length=2, vocab=3, mask=True, head=CTMCHead.POSTERIOR):
    space = DiscreteSpace(length, vocab, mask=mask)
    source = CategoricalSource.masked(space) if mask else CategoricalSource.uniform(space)
    path = FactorizedMixturePath(space, source, LinearKappa())
    gen = CTMCGenerator(space, LinearKappa(), head=head, source=source if mask else None)
    return space, path, gen


def _r_tokens(head=CTMCHead.POSTERIOR, mask=True):
    tokens, tpath, tgen = _tokens_model(head=head, mask=mask)
    space = ProductSpace({"r": EuclideanSpace(2), "tok": tokens})
    path = ProductPath(space, {"r": AffineGaussianPath(CondOT()), "tok": tpath})
    gen = ProductGenerator(space, {"r": FlowGenerator(), "tok": tgen})
    return space, path, gen


def _coupled(x):
    """A joint test function mixing every factor (not a sum of factor functions)."""
    tok = x["tok"].to(F64)
    r = x["r"]
    return torch.sin(r[:, 0] * (1 + tok[:, 0])) * torch.cos(r[:, 1] - 0.5 * tok[:, 1]) + r[
        :, 0
    ] ** 2 * tok.sum(1)


@pytest.mark.parametrize("head", [CTMCHead.POSTERIOR, CTMCHead.RATE], ids=lambda h: h.value)
@pytest.mark.parametrize("mask", [True, False], ids=["masked", "uniform"])
@pytest.mark.parametrize("t", [0.2, 0.5, 0.85])
def test_forward_equation_r_times_tokens(head, mask, t):
    space, path, gen = _r_tokens(head, mask)
    rng = torch.Generator().manual_seed(0)
    z = {"r": torch.tensor([[0.7, -0.4]], dtype=F64), "tok": torch.tensor([[1, 2]])}
    rule = {
        "r": MovingPoints(torch.randn(64, 2, dtype=F64, generator=rng)),
        "tok": DensityPoints(space.factors["tok"].enumerate()),
    }
    lhs, rhs = check_forward_equation(path, gen, _coupled, z, t, rule)
    assert abs(float(lhs)) > 1e-3  # not vacuous


def _s2_tokens():
    tokens, tpath, tgen = _tokens_model()
    sphere = ManifoldSpace(Hypersphere(3), (3,))
    space = ProductSpace({"s": sphere, "tok": tokens})
    path = ProductPath(space, {"s": GeodesicPath(sphere), "tok": tpath})
    gen = ProductGenerator(space, {"s": RiemannianFlowGenerator(sphere), "tok": tgen})
    return space, path, gen


@pytest.mark.parametrize("t", [0.3, 0.7])
def test_forward_equation_sphere_times_tokens(t):
    space, path, gen = _s2_tokens()
    rng = torch.Generator().manual_seed(1)
    sphere = space.factors["s"]
    z = {"s": torch.tensor([[0.0, 0.6, 0.8]], dtype=F64), "tok": torch.tensor([[0, 2]])}
    rule = {
        "s": MovingPoints(UniformSource(sphere).sample(48, generator=rng, dtype=F64)),
        "tok": DensityPoints(space.factors["tok"].enumerate()),
    }

    def f(x):
        s, tok = x["s"], x["tok"].to(F64)
        return torch.exp(s[:, 0] * (1 + tok[:, 0]) - s[:, 2] * tok[:, 1]) + s[:, 1] * tok.sum(1)

    lhs, _ = check_forward_equation(path, gen, f, z, t, rule)
    assert abs(float(lhs)) > 1e-3


@pytest.mark.parametrize("t", [0.25, 0.6])
def test_forward_equation_r3_times_so3(t):
    so3 = ManifoldSpace(SO3(), (3, 3))
    space = ProductSpace({"trans": EuclideanSpace(3), "rot": so3})
    path = ProductPath(space, {"trans": AffineGaussianPath(CondOT()), "rot": GeodesicPath(so3)})
    gen = ProductGenerator(
        space, {"trans": FlowGenerator(), "rot": RiemannianFlowGenerator(so3)}, {"rot": 2.0}
    )
    rng = torch.Generator().manual_seed(2)
    z = {
        "trans": torch.tensor([[0.3, -1.0, 0.5]], dtype=F64),
        "rot": UniformSource(so3).sample(1, generator=rng, dtype=F64),
    }
    rule = {
        "trans": MovingPoints(torch.randn(8, 3, dtype=F64, generator=rng)),
        "rot": MovingPoints(UniformSource(so3).sample(8, generator=rng, dtype=F64)),
    }

    def f(x):
        r, q = x["trans"], x["rot"].reshape(-1, 9)
        return torch.sin((r * q[:, 3:6]).sum(1)) + (q[:, 0] * r[:, 2]) ** 2 + q[:, 4]

    lhs, _ = check_forward_equation(path, gen, f, z, t, rule)
    assert abs(float(lhs)) > 1e-3


def test_forward_equation_check_fails_on_a_wrong_factor():
    """The same check rejects a product whose token rates or velocity are off."""
    space, path, gen = _r_tokens()
    rng = torch.Generator().manual_seed(0)
    z = {"r": torch.tensor([[0.7, -0.4]], dtype=F64), "tok": torch.tensor([[1, 2]])}
    rule = {
        "r": MovingPoints(torch.randn(64, 2, dtype=F64, generator=rng)),
        "tok": DensityPoints(space.factors["tok"].enumerate()),
    }
    fast = ProductGenerator(space, {"r": _ScaledFlow(), "tok": gen.generators["tok"]})
    with pytest.raises(AssertionError, match="forward equation violated"):
        check_forward_equation(path, fast, _coupled, z, 0.5, rule)
    slow_tokens = ProductGenerator(
        space, {"r": FlowGenerator(), "tok": _ScaledRates(gen.generators["tok"])}
    )
    with pytest.raises(AssertionError, match="forward equation violated"):
        check_forward_equation(path, slow_tokens, _coupled, z, 0.5, rule)


class _ScaledFlow(AbstractGenerator):
    """A flow whose velocity is 10 % too fast: wrong for its path."""

    parametrization = FlowGenerator().parametrization
    divergence = FlowGenerator().divergence

    def conditional_target(self, path, sample):
        return 1.1 * FlowGenerator().conditional_target(path, sample)

    def step(self, field, x, t, h, *, generator=None):
        return x + h * field(x, t)


class _ScaledRates(AbstractGenerator):
    """A CTMC whose posterior-head intensity is 10 % too low: wrong for its path."""

    def __init__(self, base):
        self.base, self.parametrization, self.divergence = (
            base,
            base.parametrization,
            base.divergence,
        )

    def conditional_target(self, path, sample):
        value = self.base.conditional_target(path, sample)
        return dataclasses.replace(value, intensity=0.9 * value.intensity)

    def step(self, field, x, t, h, *, generator=None):
        return self.base.step(field, x, t, h, generator=generator)


def _mixture_model(mask_source=True):
    toy = LabelledMixture()
    tokens = DiscreteSpace(1, toy.num_modes, mask=True)
    source = CategoricalSource.masked(tokens)
    space = ProductSpace({"x": EuclideanSpace(2), "label": tokens})
    path = ProductPath(
        space,
        {
            "x": AffineGaussianPath(CondOT()),
            "label": FactorizedMixturePath(tokens, source, LinearKappa()),
        },
    )
    gen = ProductGenerator(
        space, {"x": FlowGenerator(), "label": CTMCGenerator(tokens, LinearKappa(), source=source)}
    )
    return toy, space, path, gen


def _x0(n, tokens_value, rng, dtype=torch.float32):
    return {
        "x": torch.randn(n, 2, generator=rng, dtype=dtype),
        "label": torch.full((n, 1), tokens_value, dtype=torch.long),
    }


class _TinyProductNet(nn.Module):
    """F^θ on R² × one token: a linear map of [x, one-hot(label), t_x, t_label]."""

    def __init__(self, num_states):
        super().__init__()
        self.s = num_states
        self.lin = nn.Linear(2 + num_states + 2, 2 + num_states).double()

    def forward(self, x, t):
        h = torch.cat(
            [
                x["x"],
                nn.functional.one_hot(x["label"][:, 0], self.s).double(),
                t["x"][:, None],
                t["label"][:, None],
            ],
            1,
        )
        out = self.lin(h)
        return {"x/velocity": out[:, :2], "label/logits": out[:, None, 2:]}


def test_theorem_20_on_a_product():
    """At fixed (x, t), per-factor times: E_{Z|x} ∇θ D(F(x|Z), F^θ(x)) = ∇θ D(F(x), F^θ(x)),
    with the posterior of the whole product (exact marginal of a finite data set)."""
    toy, space, path, gen = _mixture_model()
    rng = torch.Generator().manual_seed(0)
    data = toy.sample(40, generator=rng, dtype=F64)
    oracle = ExactMarginal(path, gen, data, space=space)
    torch.manual_seed(0)
    net = _TinyProductNet(toy.num_modes + 1)
    x = {"x": torch.randn(6, 2, dtype=F64, generator=rng), "label": data["label"][:6].clone()}
    x["label"][:3] = toy.num_modes  # some labels still masked
    t = {
        "x": torch.tensor([0.1, 0.3, 0.5, 0.7, 0.8, 0.95], dtype=F64),
        "label": torch.tensor([0.6, 0.2, 0.9, 0.4, 0.5, 0.3], dtype=F64),
    }
    prediction = gen.constrain(net(x, t), x, t)
    marginal_loss = gen.divergence(oracle(x, t), prediction).sum()
    posterior = oracle.posterior(x, t)
    x_rep, t_rep, z_rep = pair_up(x, t, data, space)
    targets = gen.conditional_target(path, PathSample(x_t=x_rep, t=t_rep, z=z_rep))
    pred_rep = gen.constrain(net(x_rep, t_rep), x_rep, t_rep)
    conditional_loss = (gen.divergence(targets, pred_rep).reshape(6, -1) * posterior).sum()
    g_marginal = torch.autograd.grad(marginal_loss, list(net.parameters()))
    g_conditional = torch.autograd.grad(conditional_loss, list(net.parameters()))
    for a, b in zip(g_marginal, g_conditional, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    assert max(float(g.abs().max()) for g in g_marginal) > 1e-3


def test_step_is_every_factors_own_step():
    """One product Euler step = the flow's Euler step and the CTMC's step, from one field
    evaluation, with the random numbers drawn by the CTMC factor alone."""
    toy, space, path, gen = _mixture_model()
    rng = torch.Generator().manual_seed(3)
    x = _x0(16, toy.num_modes, rng)
    calls = []

    def field(y, s):
        calls.append(s)
        logits = torch.randn(16, 1, 9, generator=torch.Generator().manual_seed(5))
        return gen.constrain({"x/velocity": 2 * y["x"], "label/logits": logits}, y, s)

    t = {"x": torch.full((16,), 0.25), "label": torch.full((16,), 0.5)}
    h = {"x": 0.125, "label": 0.25}
    out = gen.step(field, x, t, h, generator=torch.Generator().manual_seed(7))
    assert len(calls) == 1
    value = field(x, t)
    torch.testing.assert_close(out["x"], x["x"] + 0.125 * 2 * x["x"], rtol=0, atol=0)
    ctmc = gen.generators["label"]
    expected = ctmc.step(
        lambda y, s: value["label"],
        x["label"],
        t["label"],
        0.25,
        generator=torch.Generator().manual_seed(7),
    )
    assert torch.equal(out["label"], expected)
    assert not torch.equal(out["label"], x["label"])  # the CTMC moved some labels


def test_multi_stage_factor_holds_the_other_factors():
    """An RK4 factor evaluates the field at its stages with the other factor at its start
    value and time; nfe_per_step = 1 + 3."""
    toy, space, path, gen = _mixture_model()
    gen4 = ProductGenerator(
        space, {"x": FlowGenerator(solver=RK4()), "label": gen.generators["label"]}
    )
    assert gen4.nfe_per_step == 4
    rng = torch.Generator().manual_seed(0)
    x = _x0(4, toy.num_modes, rng)
    seen = []

    def field(y, s):
        seen.append((y["label"].clone(), s["label"].clone(), s["x"][0].item()))
        return gen4.constrain({"x/velocity": -y["x"], "label/logits": torch.zeros(4, 1, 9)}, y, s)

    t = {"x": torch.full((4,), 0.0), "label": torch.full((4,), 0.5)}
    out = gen4.step(field, x, t, {"x": 0.5, "label": 0.5}, generator=rng)
    assert len(seen) == 4
    assert [s[2] for s in seen] == [0.0, 0.25, 0.25, 0.5]
    assert all(torch.equal(lab, x["label"]) and bool((tl == 0.5).all()) for lab, tl, _ in seen)
    rk4 = RK4().step(lambda y, s: -y, x["x"], t["x"], 0.5)
    torch.testing.assert_close(out["x"], rk4, rtol=0, atol=0)


def test_held_factor_never_changes_and_grids_end_at_one():
    toy, space, path, gen = _mixture_model()
    rng = torch.Generator().manual_seed(0)
    data = toy.sample(64, generator=rng)
    oracle = ExactMarginal(path, gen, data, t_max={"x": 0.99, "label": 1.0}, space=space)
    x_0 = _x0(32, toy.num_modes, rng)
    x_0["label"] = data["label"][:32]
    seen = []

    def field(x, t):
        seen.append({k: v.clone() for k, v in t.items()})
        return oracle(x, t)

    grids = FactorGrids({"x": TimeGrid.uniform(16), "label": None})
    out = simulate(gen, field, x_0, grids, rng=rng, space=space, return_trajectory=True)
    assert all(torch.equal(s["label"], x_0["label"]) for s in out.trajectory)
    assert all(bool((t["label"] == 1).all()) for t in seen)
    assert out.nfe == 16 and len(seen) == 16
    # two moving factors on 16- and 4-step grids: both end exactly at t = 1
    grids = FactorGrids({"x": TimeGrid.uniform(16), "label": TimeGrid.uniform(4)})
    assert grids.steps == 16
    x_0["label"] = torch.full((32, 1), toy.num_modes)
    seen.clear()
    out = simulate(gen, field, x_0, grids, rng=rng, space=space, return_trajectory=True)
    ends = {k: seen[-1][k][0].item() + grids.step_sizes(15)[k] for k in ("x", "label")}
    assert ends == {"x": 1.0, "label": 1.0}
    moves = sum(
        not torch.equal(a["label"], b["label"]) for a, b in itertools.pairwise(out.trajectory)
    )
    assert 1 <= moves <= 4  # the label factor steps only on its own 4 grid points
    assert bool((out.x["label"] < toy.num_modes).all())  # every label unmasked at t = 1


def test_one_trained_model_gives_both_exact_conditionals():
    """Mixture × label, one network trained with pinned factors: p(label | x) and p(x | label)
    match the exact conditionals (Bayes rates of the known joint), and the joint agrees."""
    toy, space, path, gen = _mixture_model()
    torch.manual_seed(0)
    net = ProductMLP(space, gen.head_shapes(space), hidden=128, depth=3)
    times = PinnedTimes(space.names, {"label": 0.3, "x": 0.3}, base=IndependentTimes(space.names))
    loss = GeneratorMatchingLoss(path, gen, time_sampler=times, space=space)
    rng = torch.Generator().manual_seed(0)
    train(loss, net, toy.sample(20_000, generator=rng), steps=2000, batch_size=256, lr=2e-3)
    net.eval()
    scores = conditional_scores(toy, gen, gen.field(net), space, n=2000, rng=rng)
    # p(label | x), read off the network (argmax, TV) and sampled by the CTMC with x held
    assert scores.label_given_x_argmax >= 0.95 * scores.bayes_rate  # Bayes rate ≈ 0.87
    assert scores.label_given_x_tv < 0.11  # train seeds 0 / 1 / 2: 0.096 / 0.074 / 0.065
    assert scores.label_given_x >= 0.95 * scores.sampling_rate
    # p(x | label): points of class k are classified as k at the Bayes rate, close in law
    assert scores.x_given_label >= 0.95 * scores.bayes_rate
    energy = scores.x_given_label_energy  # 250 points a class: the floor is 0.005 ± 0.01
    # (measured with train seed 0: max 0.065, mean 0.033)
    assert max(energy) < 0.08 and sum(energy) / len(energy) < 0.04
    # the joint: labels drawn with the points agree with the points' Bayes labels
    assert scores.joint_agreement >= 0.95 * scores.sampling_rate
    assert scores.joint_energy < 0.02


def test_product_oracle_reaches_the_data():
    """The exact product marginal of a finite data set regenerates it: every joint sample sits
    on a datum (x within the t_max blur) carrying the sample's label; label frequencies match."""
    toy, space, path, gen = _mixture_model()
    rng = torch.Generator().manual_seed(0)
    data = toy.sample(200, generator=rng)
    oracle = ExactMarginal(path, gen, data, space=space)
    out = simulate(gen, oracle, _x0(1000, toy.num_modes, rng), 64, rng=rng, space=space).x
    nearest = torch.cdist(out["x"], data["x"]).argmin(1)
    close = torch.cdist(out["x"], data["x"]).min(1).values < 0.1
    same = out["label"][:, 0] == data["label"][nearest, 0]
    assert float((close & same).float().mean()) > 0.99
    freq = torch.bincount(out["label"][:, 0], minlength=9)[:8] / 1000
    ref = torch.bincount(data["label"][:, 0], minlength=8) / 200
    assert float(0.5 * (freq - ref).abs().sum()) < 0.06  # sampling floor ≈ 0.03
    assert float(energy_distance(out["x"], data["x"])) < 0.01


def test_loss_reports_every_factor_and_pinned_factors_weigh_zero():
    toy, space, path, gen = _mixture_model()
    weighted = ProductGenerator(space, gen.generators, loss_weights={"label": 3.0})
    rng = torch.Generator().manual_seed(0)
    data = toy.sample(64, generator=rng, dtype=F64)
    net = _TinyProductNet(toy.num_modes + 1)
    times = PinnedTimes(space.names, {"label": 0.5})
    terms = GeneratorMatchingLoss(path, weighted, time_sampler=times, space=space).terms(
        net, data, generator=rng
    )
    assert set(terms.parts) == {"x", "label"}
    torch.testing.assert_close(terms.per_sample, terms.parts["x"] + terms.parts["label"])
    pinned = terms.sample.t["label"] == 1
    assert 10 < int(pinned.sum()) < 54
    assert bool((terms.parts["label"][pinned] == 0).all())
    masked = terms.sample.x_t["label"][:, 0] == toy.num_modes  # unmasked tokens cost nothing
    assert bool((terms.parts["label"][~pinned & masked] > 0).all()) and bool(masked.any())
    assert torch.equal(terms.sample.x_t["label"][pinned], data["label"][pinned])
    plain = GeneratorMatchingLoss(path, gen, time_sampler=times, space=space).terms(
        net, data, generator=torch.Generator().manual_seed(0)
    )
    again = GeneratorMatchingLoss(path, weighted, time_sampler=times, space=space).terms(
        net, data, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(again.parts["label"], 3.0 * plain.parts["label"])
    torch.testing.assert_close(again.parts["x"], plain.parts["x"])


def test_composite_factors_sample_the_data():
    """Superposition (jump + flow), Langevin and a predictor–corrector as factors of one
    product, sampled with the product oracle: each factor still lands on the data."""
    from genmatch import BinnedJumpGenerator, Bins, ConstantWeights, Langevin, MixtureCorrector
    from genmatch.compose import Superposition, constant_beta
    from genmatch.diffusion import score_from_velocity

    toy, space, path, gen = _mixture_model()
    flow = FlowGenerator()
    tokens = space.factors["label"]
    mixed = Superposition([flow, BinnedJumpGenerator(Bins(-4, 4, 64))], ConstantWeights((0.7, 0.3)))
    corrected = MixtureCorrector(
        gen.generators["label"], CategoricalSource.masked(tokens), lambda t: 0.5 * t * (1 - t)
    )
    langevin = Langevin(flow, constant_beta(0.3), score_from_velocity(CondOT()))
    rng = torch.Generator().manual_seed(0)
    data = toy.sample(100, generator=rng)
    for x_gen in (mixed, langevin):
        model = ProductGenerator(space, {"x": x_gen, "label": corrected})
        oracle = ExactMarginal(path, model, data, space=space)
        out = simulate(model, oracle, _x0(400, toy.num_modes, rng), 64, rng=rng, space=space).x
        dist, nearest = torch.cdist(out["x"], data["x"]).min(1)
        same = out["label"][:, 0] == data["label"][nearest, 0]
        assert float(((dist < 0.3) & same).float().mean()) > 0.9, type(x_gen).__name__


def test_bad_input_is_rejected_clearly():
    toy, space, path, gen = _mixture_model()
    with pytest.raises(TypeError, match="a class, not an instance"):
        ProductSpace({"x": EuclideanSpace})
    with pytest.raises(ValueError, match="without '/'"):
        ProductSpace({"a/b": EuclideanSpace(1)})
    with pytest.raises(ValueError, match=r"paths has factors \['x'\]"):
        ProductPath(space, {"x": AffineGaussianPath(CondOT())})
    with pytest.raises(TypeError, match="AbstractGenerator instance"):
        ProductGenerator(space, {"x": FlowGenerator, "label": gen.generators["label"]})
    with pytest.raises(ValueError, match="unknown factors"):
        ProductGenerator(space, gen.generators, loss_weights={"y": 2.0})
    with pytest.raises(ValueError, match="must be a number > 0"):
        ProductGenerator(space, gen.generators, loss_weights={"x": -1.0})
    good = toy.sample(4)
    with pytest.raises(ValueError, match=r"x has factors \['x'\]"):
        space.check({"x": good["x"]})
    with pytest.raises(ValueError, match="disagree on the batch size"):
        space.check({"x": good["x"], "label": good["label"][:3]})
    with pytest.raises(TypeError, match="must be a dict"):
        space.check(good["x"])
    loss = GeneratorMatchingLoss(path, gen, space=space)
    net = ProductMLP(space, gen.head_shapes(space), hidden=8)
    with pytest.raises(ValueError, match=r"t\['label'\] must lie in \[0, 1\]"):
        loss(net, good, t={"x": torch.full((4,), 0.5), "label": torch.full((4,), 1.5)})
    with pytest.raises(ValueError, match="the times has factors"):
        loss(net, good, t={"x": torch.full((4,), 0.5)})
    with pytest.raises(ValueError, match=r"x_1\['label'\] has tokens outside"):
        loss(net, {"x": good["x"], "label": good["label"] + 20})
    with pytest.raises(KeyError, match="no head for factor 'label'"):
        gen.constrain({"x/velocity": torch.zeros(4, 2)}, good, torch.zeros(4))
    with pytest.raises(UnsupportedPathError, match="needs a ProductPath"):
        gen.conditional_target(AffineGaussianPath(CondOT()), None)
    with pytest.raises(TypeError, match="optimal-transport couplings need tensor points"):
        GeneratorMatchingLoss(path, gen, coupling=ExactOTCoupling(), space=space)(
            net, good, x_0=_x0(4, toy.num_modes, torch.Generator())
        )


@pytest.mark.parametrize("t", [0.3, 0.8])
def test_forward_equation_backbone_frames_times_sequence(t):
    """SE(3)^N frames as (SO(3)^N, R^{N×3}) × an amino-acid-like sequence of N tokens."""
    n = 2
    rot = ManifoldSpace(SO3(), (n, 3, 3))
    seq, seq_path, seq_gen = _tokens_model(length=n, vocab=2)
    space = ProductSpace({"rot": rot, "trans": EuclideanSpace((n, 3)), "seq": seq})
    path = ProductPath(
        space,
        {"rot": GeodesicPath(rot), "trans": AffineGaussianPath(CondOT()), "seq": seq_path},
    )
    gen = ProductGenerator(
        space,
        {"rot": RiemannianFlowGenerator(rot), "trans": FlowGenerator(), "seq": seq_gen},
        {"trans": 2.0},
    )
    rng = torch.Generator().manual_seed(4)
    z = {
        "rot": UniformSource(rot).sample(1, generator=rng, dtype=F64),
        "trans": torch.randn(1, n, 3, dtype=F64, generator=rng),
        "seq": torch.tensor([[1, 0]]),
    }
    rule = {
        "rot": MovingPoints(UniformSource(rot).sample(6, generator=rng, dtype=F64)),
        "trans": MovingPoints(torch.randn(6, n, 3, dtype=F64, generator=rng)),
        "seq": DensityPoints(seq.enumerate()),
    }

    def f(x):
        r, p, s = x["rot"].reshape(-1, n, 9), x["trans"], x["seq"].to(F64)
        return torch.sin((r[:, :, :3] * p).sum((1, 2)) * (1 + s[:, 0])) + r[:, 1, 4] * s[:, 1]

    lhs, _ = check_forward_equation(path, gen, f, z, t, rule)
    assert abs(float(lhs)) > 1e-3
