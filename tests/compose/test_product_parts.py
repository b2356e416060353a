"""Product generators factor by factor, exactly (GM §9.8).

On ``R² × {0, 1} × R`` (a flow, a two-state CTMC and a second flow) these tests check the
product's ``L_t f`` against the hand-written sum of the factors' generators of a coupled ``f``
(the CTMC factor evaluates ``f`` on two neighbours per point, so the other factors are
repeated); that heads, values, scaling, guidance, tilts and posterior means are the factors'
own at their own times; the weighted divergence; targets of pinned factors; the per-factor
clocks of a step; and the construction checks with their messages.
"""

import re

import pytest
import torch

from genmatch import (
    AffineGaussianPath,
    CondOT,
    CTMCGenerator,
    DiscreteSpace,
    EuclideanSpace,
    FactorizedMixturePath,
    FlowGenerator,
    LinearKappa,
    Midpoint,
    UnsupportedPathError,
)
from genmatch.compose import MetropolisHastings, ProductGenerator, ProductValue, constant_rate
from genmatch.divergences.squared_euclidean import SquaredEuclidean
from genmatch.generators import AbstractGenerator, PosteriorValue
from genmatch.generators.base import AbstractLinearParametrization
from genmatch.generators.flow import VelocityParametrization
from genmatch.guidance.base import AbstractTiltableParametrization
from genmatch.guidance.bound import BoundLikelihood
from genmatch.paths import PathSample
from genmatch.paths.product import ProductPath
from genmatch.solvers import RK4
from genmatch.sources import CategoricalSource
from genmatch.spaces import ProductSpace

D = torch.float64
TOK = DiscreteSpace(1, 2)
SPACE = ProductSpace({"r": EuclideanSpace(2), "tok": TOK, "w": EuclideanSpace(1)})
GAUSS = AffineGaussianPath(CondOT())
TOK_PATH = FactorizedMixturePath(TOK, CategoricalSource.uniform(TOK), LinearKappa())
PATH = ProductPath(SPACE, {"r": GAUSS, "tok": TOK_PATH, "w": GAUSS})


def _gen(**kw):
    parts = {"r": FlowGenerator(), "tok": CTMCGenerator(TOK, LinearKappa()), "w": FlowGenerator()}
    return ProductGenerator(SPACE, parts, **kw)


def _x(b=4):
    rng = torch.Generator().manual_seed(0)
    return {
        "r": torch.randn(b, 2, dtype=D, generator=rng),
        "tok": torch.tensor([[0], [1], [1], [0]])[:b],
        "w": torch.randn(b, 1, dtype=D, generator=rng),
    }


def _value(b=4, seed=1):
    rng = torch.Generator().manual_seed(seed)
    probs = torch.rand(b, 1, 2, dtype=D, generator=rng) + 0.1
    return ProductValue(
        {
            "r": torch.randn(b, 2, dtype=D, generator=rng),
            "tok": PosteriorValue(probs / probs.sum(-1, keepdim=True), 1 + torch.rand(b, dtype=D)),
            "w": torch.randn(b, 1, dtype=D, generator=rng),
        }
    )


def _f(x):
    r, tok, w = x["r"], x["tok"][:, 0].to(D), x["w"][:, 0]
    return torch.sin(r[:, 0] * (1 + tok)) * w + r[:, 1] * tok + w**2 * r[:, 0]


def test_apply_is_the_sum_of_the_factors_generators_of_a_coupled_function():
    gen, x, value = _gen(), _x(), _value()
    r, tok, w = x["r"], x["tok"][:, 0].to(D), x["w"][:, 0]
    grad_r = torch.stack([torch.cos(r[:, 0] * (1 + tok)) * (1 + tok) * w + w**2, tok], 1)
    grad_w = torch.sin(r[:, 0] * (1 + tok)) + 2 * w * r[:, 0]
    flipped = {**x, "tok": 1 - x["tok"]}
    p_other = value["tok"].probs[:, 0].gather(1, 1 - x["tok"])[:, 0]
    jump = value["tok"].intensity * p_other * (_f(flipped) - _f(x))
    expected = (grad_r * value["r"]).sum(1) + grad_w * value["w"][:, 0] + jump
    torch.testing.assert_close(gen.apply(_f, x, value), expected, rtol=1e-13, atol=1e-13)


def test_heads_and_values_are_namespaced_and_at_each_factors_time():
    gen = _gen()
    heads = {"r/velocity": (2,), "tok/logits": (1, 2), "w/velocity": (1,)}
    assert gen.head_shapes(SPACE) == heads
    same = ProductSpace(dict(SPACE.factors))
    assert gen.parametrization.head_shapes(same) == heads
    message = "^head_shapes needs the product space the generator was built on$"
    with pytest.raises(ValueError, match=message):
        gen.parametrization.head_shapes(ProductSpace({"r": EuclideanSpace(2), "tok": TOK}))
    with pytest.raises(ValueError, match=message):
        gen.parametrization.head_shapes(EuclideanSpace(2))
    x = _x()
    raw = {
        "r/velocity": torch.randn(4, 2, dtype=D),
        "tok/logits": torch.randn(4, 1, 2, dtype=D),
        "w/velocity": torch.randn(4, 1, dtype=D),
    }
    t = {
        "r": torch.full((4,), 0.1, dtype=D),
        "tok": torch.tensor([0.2, 0.5, 0.75, 0.0], dtype=D),
        "w": torch.full((4,), 0.9, dtype=D),
    }
    value = gen.constrain(raw, x, t)
    assert isinstance(value, ProductValue) and value.loss_weights is None
    assert value["r"] is raw["r/velocity"] and value["w"] is raw["w/velocity"]
    torch.testing.assert_close(value["tok"].intensity, 1 / (1 - t["tok"]), rtol=1e-15, atol=0)
    torch.testing.assert_close(value["tok"].probs, raw["tok/logits"].softmax(-1))
    shared = gen.constrain(raw, x, t["tok"])  # one tensor of times for every factor
    torch.testing.assert_close(shared["tok"].intensity, 1 / (1 - t["tok"]), rtol=1e-15, atol=0)
    message = re.escape(
        "the network returned no head for factor 'tok' (expected heads named 'tok/...', got "
        "['r/velocity', 'w/velocity'])"
    )
    with pytest.raises(KeyError, match=message):
        gen.constrain({k: v for k, v in raw.items() if k != "tok/logits"}, x, t)


def test_scale_guide_and_posterior_mean_are_factor_by_factor():
    gen, x = _gen(), _x()
    par = gen.parametrization
    lw = {"r": torch.ones(4, dtype=D), "tok": torch.zeros(4, dtype=D), "w": torch.ones(4)}
    value = ProductValue(_value().parts, lw)
    c = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=D)
    scaled = par.scale(value, c)
    assert scaled.loss_weights is lw
    torch.testing.assert_close(scaled["r"], c[:, None] * value["r"], rtol=0, atol=0)
    torch.testing.assert_close(scaled["w"], c[:, None] * value["w"], rtol=0, atol=0)
    torch.testing.assert_close(scaled["tok"].intensity, c * value["tok"].intensity, rtol=0, atol=0)

    uncond = _value(seed=2)
    weights = {"r": torch.full((4,), 0.5, dtype=D), "tok": torch.full((4,), 2.0, dtype=D)}
    weights["w"] = torch.full((4,), -0.25, dtype=D)
    guided = par.guide(value, uncond, weights, x)
    shared = par.guide(value, uncond, weights["tok"], x)
    for k, part in par.parts.items():
        own = part.guide(value[k], uncond[k], weights[k], x[k])
        same = part.guide(value[k], uncond[k], weights["tok"], x[k])
        for got, want in ((guided[k], own), (shared[k], same)):
            if k == "tok":
                torch.testing.assert_close(got.probs, want.probs, rtol=0, atol=0)
                torch.testing.assert_close(got.speed, want.speed, rtol=0, atol=0)
            else:
                torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(guided["r"], 1.5 * value["r"] - 0.5 * uncond["r"])

    values = _value(b=8, seed=3)  # 4 points × 2 latents, point-major
    post = torch.tensor([[0.3, 0.7], [1.0, 0.0], [0.5, 0.5], [0.1, 0.9]], dtype=D)
    mean = par.posterior_mean(ProductValue(values.parts, lw), post)
    assert mean.loss_weights is None
    for k in ("r", "w"):
        expected = (post[:, :, None] * values[k].reshape(4, 2, -1)).sum(1)
        torch.testing.assert_close(mean[k], expected, rtol=1e-15, atol=1e-15)
    want = par.parts["tok"].posterior_mean(values["tok"], post)
    torch.testing.assert_close(mean["tok"].probs, want.probs, rtol=0, atol=0)


class _Spy(AbstractLinearParametrization, AbstractTiltableParametrization):
    """A flow-like parametrization whose tilt records its arguments and doubles the value."""

    def __init__(self):
        self.tilts = []

    def head_shapes(self, space):
        return {"v": (1,)}

    def constrain(self, raw, x_t, t):
        return raw["v"]

    def test_operator(self, f, x_t):
        return VelocityParametrization().test_operator(f, x_t)

    def inner(self, a, b, x_t):
        return (a * b).sum(1) * (1 + x_t[:, 0] ** 2)  # a conformal metric: depends on x_t

    def tilt(self, value, x_t, t, log_likelihood, weight, path):
        self.tilts.append((x_t, t, log_likelihood, weight, path))
        return 2 * value


class _SpyGenerator(AbstractGenerator):
    divergence = SquaredEuclidean()

    def __init__(self, parametrization):
        self.parametrization, self.steps = parametrization, []

    def conditional_target(self, path, sample):
        return sample.x_t

    def step(self, field, x, t, h, *, generator=None):
        self.steps.append((field, x, t, h, generator))
        return x + 1


class _Untiltable(AbstractLinearParametrization):  # no tilt, no guidance rule
    head_shapes, constrain = _Spy.head_shapes, _Spy.constrain
    test_operator, inner = _Spy.test_operator, _Spy.inner


def test_apply_uses_each_factors_inner_product_at_its_points():
    space = ProductSpace({"r": EuclideanSpace(2), "a": EuclideanSpace(1)})
    gen = ProductGenerator(space, {"r": FlowGenerator(), "a": _SpyGenerator(_Spy())})
    rng = torch.Generator().manual_seed(4)
    x = {"r": torch.randn(3, 2, dtype=D, generator=rng), "a": torch.randn(3, 1, dtype=D)}
    value = ProductValue({"r": torch.randn(3, 2, dtype=D), "a": torch.randn(3, 1, dtype=D)})

    def f(y):
        return torch.sin(y["r"][:, 0]) * y["a"][:, 0] + y["a"][:, 0] ** 2

    grad_r = torch.stack([torch.cos(x["r"][:, 0]) * x["a"][:, 0], torch.zeros(3, dtype=D)], 1)
    grad_a = torch.sin(x["r"][:, 0]) + 2 * x["a"][:, 0]
    metric = 1 + x["a"][:, 0] ** 2
    applied = (grad_r * value["r"]).sum(1) + grad_a * value["a"][:, 0] * metric
    torch.testing.assert_close(gen.apply(f, x, value), applied, rtol=1e-13, atol=1e-13)


def test_tilt_gives_each_factor_the_likelihood_of_its_own_coordinates():
    space = ProductSpace({"r": EuclideanSpace(2), "a": EuclideanSpace(1)})
    spy = _Spy()
    gen = ProductGenerator(space, {"r": FlowGenerator(), "a": _SpyGenerator(spy)})
    path = ProductPath(space, {"r": GAUSS, "a": AffineGaussianPath(CondOT())})
    rng = torch.Generator().manual_seed(4)
    x = {"r": torch.randn(3, 2, dtype=D, generator=rng), "a": torch.randn(3, 1, dtype=D)}
    t = {"r": torch.tensor([0.2, 0.5, 0.7], dtype=D), "a": torch.tensor([0.4, 0.6, 0.3], dtype=D)}

    def evaluate(y, s):
        m = y["r"].shape[0] // 3
        s_r, s_a = s["r"].repeat_interleave(m), s["a"].repeat_interleave(m)
        return (y["r"] ** 2).sum(1) * s_r + y["a"][:, 0] * y["r"][:, 0] * (1 + s_a)

    bound = BoundLikelihood(evaluate, t)
    value = ProductValue({"r": torch.randn(3, 2, dtype=D), "a": torch.randn(3, 1, dtype=D)})
    w = {"r": torch.tensor([1.0, 0.5, 2.0], dtype=D), "a": torch.tensor([3.0, 1.0, 0.0], dtype=D)}
    out = gen.parametrization.tilt(value, x, t, bound, w, path)
    in_r = BoundLikelihood(lambda y, s: evaluate({**x, "r": y}, s), t, "r")
    flow_tilt = VelocityParametrization().tilt(value["r"], x["r"], t["r"], in_r, w["r"], GAUSS)
    torch.testing.assert_close(out["r"], flow_tilt, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(out["a"], 2 * value["a"], rtol=0, atol=0)
    ((s_x, s_t, s_ll, s_w, s_path),) = spy.tilts
    assert s_x is x["a"] and s_t is t["a"] and s_w is w["a"] and s_path is path.paths["a"]
    y = torch.tensor([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]], dtype=D)  # 2 points each
    r_rep = x["r"].repeat_interleave(2, 0)
    torch.testing.assert_close(s_ll(y), evaluate({"r": r_rep, "a": y}, t), rtol=0, atol=0)
    at_data = evaluate({"r": r_rep, "a": y}, {"r": t["r"], "a": torch.ones(3, dtype=D)})
    torch.testing.assert_close(s_ll.at_data(y), at_data, rtol=0, atol=0)  # only "a" set to 1

    shared = gen.parametrization.tilt(value, x, t, bound, w["a"], path)
    assert spy.tilts[1][3] is w["a"]
    flow_shared = VelocityParametrization().tilt(value["r"], x["r"], t["r"], in_r, w["a"], GAUSS)
    torch.testing.assert_close(shared["r"], flow_shared, rtol=1e-14, atol=1e-14)
    with pytest.raises(TypeError, match="a product is tilted with its ProductPath, got Affine"):
        gen.parametrization.tilt(value, x, t, bound, w, GAUSS)
    plain = ProductGenerator(space, {"r": FlowGenerator(), "a": _SpyGenerator(_Untiltable())})
    with pytest.raises(
        TypeError, match=re.escape("factor 'a' (_Untiltable) has no predictor tilt")
    ):
        plain.parametrization.tilt(value, x, t, bound, w, path)
    with pytest.raises(TypeError, match=re.escape("factor 'a' (_Untiltable) has no guidance rule")):
        plain.parametrization.guide(value, value, w, x)


def test_divergence_weighs_each_factor_and_each_sample():
    gen = _gen(loss_weights={"w": 2.5, "r": 1})
    assert gen.loss_weights == {"r": 1.0, "tok": 1.0, "w": 2.5}
    doubled = _gen(loss_weights={"w": 2})
    a, b = _value(seed=5), _value(seed=6)
    d_w = FlowGenerator().divergence(a["w"], b["w"])
    torch.testing.assert_close(doubled.divergence.terms(a, b)["w"], 2 * d_w, rtol=0, atol=0)
    assert all(type(v) is float for v in gen.loss_weights.values())
    div = gen.divergence
    a, b = _value(seed=5), _value(seed=6)
    d = {k: g.divergence(a[k], b[k]) for k, g in gen.generators.items()}
    terms = div.terms(a, b)
    torch.testing.assert_close(terms["w"], 2.5 * d["w"], rtol=1e-15, atol=0)
    torch.testing.assert_close(terms["r"], d["r"], rtol=0, atol=0)
    torch.testing.assert_close(div(a, b), d["r"] + d["tok"] + 2.5 * d["w"], rtol=1e-14, atol=0)
    ell = {k: torch.tensor([1.0, 0.0, 0.5, 2.0], dtype=D) for k in ("r", "tok", "w")}
    weighted = div.terms(ProductValue(a.parts, ell), b)
    for k, factor in (("r", 1.0), ("tok", 1.0), ("w", 2.5)):
        torch.testing.assert_close(weighted[k], factor * ell[k] * d[k], rtol=1e-15, atol=0)
    phi = {k: g.divergence.phi(a[k]) for k, g in gen.generators.items()}
    torch.testing.assert_close(
        div.phi(a), phi["r"] + phi["tok"] + 2.5 * phi["w"], rtol=1e-14, atol=0
    )
    generic = {k: g.divergence.generic(a[k], b[k]) for k, g in gen.generators.items()}
    expected = generic["r"] + generic["tok"] + 2.5 * generic["w"]
    torch.testing.assert_close(div.generic(a, b), expected, rtol=1e-13, atol=1e-14)


def test_targets_of_pinned_factors_are_taken_at_one_half_with_weight_zero():
    gen = _gen()
    rng = torch.Generator().manual_seed(7)
    z = {"r": torch.randn(2, 2, dtype=D, generator=rng), "tok": torch.tensor([[1], [0]])}
    z["w"] = torch.randn(2, 1, dtype=D, generator=rng)
    x_0 = {"r": torch.randn(2, 2, dtype=D, generator=rng), "tok": torch.tensor([[0], [0]])}
    x_0["w"] = torch.randn(2, 1, dtype=D, generator=rng)
    t = {"r": torch.tensor([0.3, 1.0], dtype=D), "tok": torch.tensor([1.0, 0.4], dtype=D)}
    t["w"] = torch.tensor([0.6, 0.2], dtype=D)
    x_t = {"r": 0.3 * z["r"] + 0.7 * x_0["r"], "tok": torch.tensor([[1], [1]]), "w": z["w"]}
    x_t["r"][1] = z["r"][1]
    target = gen.conditional_target(PATH, PathSample(x_t=x_t, t=t, z=z, x_0=x_0))
    torch.testing.assert_close(target["r"], z["r"] - x_0["r"], rtol=0, atol=1e-15)  # CondOT
    assert set(target.loss_weights) == {"r", "tok", "w"}
    for k in ("r", "tok", "w"):
        ones = (t[k] < 1).to(D)
        torch.testing.assert_close(target.loss_weights[k], ones, rtol=0, atol=0)
    tok = gen.generators["tok"].conditional_target(
        TOK_PATH, PathSample(x_t=x_t["tok"], t=torch.tensor([0.5, 0.4], dtype=D), z=z["tok"])
    )
    torch.testing.assert_close(target["tok"].intensity, tok.intensity, rtol=0, atol=0)
    torch.testing.assert_close(target["tok"].intensity, torch.tensor([2.0, 1 / 0.6], dtype=D))
    with pytest.raises(UnsupportedPathError, match="ProductGenerator needs a ProductPath, got Aff"):
        gen.conditional_target(GAUSS, None)
    two = ProductSpace({"r": EuclideanSpace(2), "tok": TOK})
    other = ProductPath(two, {"r": GAUSS, "tok": TOK_PATH})
    message = re.escape("the path has factors ['r', 'tok'], but the product has ['r', 'tok', 'w']")
    with pytest.raises(ValueError, match=message):
        gen.conditional_target(other, None)

    data = {"r": z["r"], "tok": z["tok"], "w": z["w"]}
    posterior = torch.tensor([[0.25, 0.75], [0.6, 0.4]], dtype=D)
    t_m = {"r": torch.tensor([0.3, 0.8], dtype=D), "tok": torch.tensor([0.1, 0.4], dtype=D)}
    t_m["w"] = torch.tensor([0.5, 0.5], dtype=D)
    marginal = gen.marginal_target(PATH, x_t, t_m, data, posterior)
    for k, g in gen.generators.items():
        want = g.marginal_target(PATH.paths[k], x_t[k], t_m[k], data[k], posterior)
        got = marginal[k]
        if k == "tok":
            got, want = got.probs, want.probs
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_step_runs_each_factor_on_its_own_clock_from_one_evaluation():
    space = ProductSpace({"a": EuclideanSpace(1), "b": EuclideanSpace(1), "c": EuclideanSpace(1)})
    spies = {k: _SpyGenerator(VelocityParametrization()) for k in ("b", "c")}
    gen = ProductGenerator(space, {"a": FlowGenerator(), **spies})
    x = {k: torch.tensor([[1.0], [2.0]], dtype=D) * (i + 1) for i, k in enumerate("abc")}
    t = {k: torch.tensor([0.1, 0.2], dtype=D) * (i + 1) for i, k in enumerate("abc")}
    calls = []

    def field(y, s):
        calls.append((y, s))
        return ProductValue({k: y[k] * s[k][:, None] for k in "abc"})

    rng = torch.Generator()
    out = gen.step(field, x, t, {"a": 0.5, "b": 0.0, "c": 1.0}, generator=rng)
    assert len(calls) == 1 and calls[0][0] is x and calls[0][1] == t
    torch.testing.assert_close(out["a"], x["a"] + 0.5 * x["a"] * t["a"][:, None])
    assert out["b"] is x["b"] and spies["b"].steps == []  # h = 0: the factor is held
    torch.testing.assert_close(out["c"], x["c"] + 1, rtol=0, atol=0)
    ((c_field, c_x, c_t, c_h, c_rng),) = spies["c"].steps
    assert c_x is x["c"] and c_t is t["c"] and c_h == 1.0 and c_rng is rng
    torch.testing.assert_close(c_field(x["c"], t["c"]), x["c"] * t["c"][:, None], rtol=0, atol=0)
    assert len(calls) == 1  # the first evaluation is re-used
    y, s = torch.tensor([[7.0], [8.0]], dtype=D), torch.tensor([0.9, 0.8], dtype=D)
    torch.testing.assert_close(c_field(y, s), y * s[:, None], rtol=0, atol=0)
    assert calls[1][0] == {**x, "c": y} and calls[1][1] == {**t, "c": s}


def test_construction_checks_and_the_cost_of_a_step():
    mixed = {
        "r": FlowGenerator(solver=RK4()),
        "tok": MetropolisHastings(TOK, lambda x, t: 0 * t, constant_rate(1.0)),
        "w": FlowGenerator(solver=Midpoint()),
    }
    assert ProductGenerator(SPACE, mixed).nfe_per_step == 1 + 3 + 0 + 1
    assert _gen().nfe_per_step == 1
    parts = _gen().generators
    with pytest.raises(
        ValueError, match=re.escape("loss_weights names unknown factors ['a', 'y']")
    ):
        ProductGenerator(SPACE, parts, loss_weights={"y": 2.0, "a": 1.0, "r": 2.0})
    for bad in (0, 0.0, -1.0, True, "2"):
        message = re.escape(f"loss_weights['r'] must be a number > 0, got {bad!r}")
        with pytest.raises(ValueError, match=message):
            ProductGenerator(SPACE, parts, loss_weights={"r": bad})
    with pytest.raises(TypeError, match=re.escape("generators['r'] must be a AbstractGenerator")):
        ProductGenerator(SPACE, {**parts, "r": FlowGenerator})
