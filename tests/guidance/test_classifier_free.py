"""Classifier-free guidance: valid guided generators for every w, exact at w = 0 and w = −1,
per-factor weights on products, the condition channel end to end, and more guidance giving
more class accuracy."""

import pytest
import torch

from genmatch import (
    MLP,
    AffineGaussianPath,
    CondOT,
    EuclideanSpace,
    ExactMarginal,
    FlowGenerator,
    GeneratorMatchingLoss,
    simulate,
    train,
)
from genmatch.compose import ProductGenerator
from genmatch.data import LabelledMixture
from genmatch.generators import CTMCGenerator, CTMCHead, PosteriorValue
from genmatch.guidance import ClassifierFreeGuidance, Condition, geometric
from genmatch.nn import LabelEmbedding
from genmatch.paths import FactorizedMixturePath, LinearKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace, ProductSpace
from genmatch.testing import check_rate_matrix, finite_generator_matrix

D = torch.float64
SPACE = DiscreteSpace(2, 3, mask=True)
KAPPA = LinearKappa()
SOURCE = CategoricalSource.masked(SPACE)
WEIGHTS = [0.0, 0.5, 1.0, 3.0]


def _random_posterior(states, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(states.shape[0], 2, SPACE.num_states, generator=g, dtype=D)
    logits[..., SPACE.mask_token] = -float("inf")
    return PosteriorValue(logits.softmax(-1), torch.full((states.shape[0],), 1.7, dtype=D))


@pytest.mark.parametrize("head", [CTMCHead.POSTERIOR, CTMCHead.RATE])
@pytest.mark.parametrize("w", WEIGHTS + [-1.0, -0.5])
def test_guided_ctmc_rates_are_a_generator_and_exact_at_the_ends(head, w):
    gen = CTMCGenerator(SPACE, KAPPA, head=head, source=SOURCE)
    states = SPACE.enumerate()
    a, b = _random_posterior(states, 0), _random_posterior(states, 1)
    if head is CTMCHead.RATE:
        a, b = gen.rates(a, states), gen.rates(b, states)
    weight = torch.full((states.shape[0],), w, dtype=D)
    guided = gen.parametrization.guide(a, b, weight, states)
    q = finite_generator_matrix(gen, guided, SPACE)
    check_rate_matrix(q)  # off-diagonals >= 0, rows sum to 0
    ra, rb, rg = gen.rates(a, states), gen.rates(b, states), gen.rates(guided, states)
    torch.testing.assert_close(rg, geometric(ra, rb, weight), rtol=1e-12, atol=1e-12)
    if w == 0:
        assert torch.equal(rg, ra)
        if head is CTMCHead.POSTERIOR:
            assert torch.equal(guided.probs, a.probs)
            assert guided.speed is None or bool((guided.speed == 1).all())  # 1 is no speed
    if w == -1:
        assert torch.equal(rg, rb)


def test_geometric_rule_formula_and_failure_on_a_wrong_weight():
    a, b = torch.tensor([[2.0, 0.0, 1.0]]), torch.tensor([[1.0, 3.0, 4.0]])
    torch.testing.assert_close(
        geometric(a, b, torch.tensor([2.0])), torch.tensor([[8.0, 0, 1 / 16]])
    )
    with pytest.raises(ValueError, match=">= -1"):
        ClassifierFreeGuidance(FlowGenerator(), weight=-2.0)
    with pytest.raises(TypeError, match="guidance weight"):
        ClassifierFreeGuidance(FlowGenerator(), weight="strong")


def test_guided_posterior_step_uses_the_guided_rates():
    """One guided posterior step: P(jump to y) = 1 − S^s with s the guided total, p ∝ rates."""
    gen = CTMCGenerator(SPACE, KAPPA, source=SOURCE)
    x = torch.full((1, 2), SPACE.mask_token)
    a = PosteriorValue(
        torch.tensor([[[0.5, 0.5, 0.0, 0.0]] * 2], dtype=D), torch.tensor([2.0], dtype=D)
    )
    b = PosteriorValue(
        torch.tensor([[[0.25, 0.75, 0.0, 0.0]] * 2], dtype=D), torch.tensor([2.0], dtype=D)
    )
    guided = gen.parametrization.guide(a, b, torch.tensor([1.0], dtype=D), x)
    rel = torch.tensor([0.5**2 / 0.25, 0.5**2 / 0.75], dtype=D)  # p_c^2 / p_u
    torch.testing.assert_close(guided.speed[0], rel.sum().expand(2))
    n, t, h = 40000, 0.25, 0.25
    xs = x.expand(n, 2)
    value = PosteriorValue(
        guided.probs.expand(n, 2, 4), guided.intensity.expand(n), guided.speed.expand(n, 2)
    )
    out = gen.posterior_step(
        value, xs, torch.full((n,), t, dtype=D), h, generator=torch.Generator().manual_seed(0)
    )
    survival = KAPPA.survival(torch.tensor([t], dtype=D), torch.tensor([t + h], dtype=D))
    p_move = 1 - survival ** rel.sum()
    freq = torch.stack([(out[:, 0] == k).double().mean() for k in (0, 1)])
    expected = p_move * rel / rel.sum()
    assert (freq - expected).abs().max() < 4 * (0.25 / n) ** 0.5


def test_product_guidance_has_a_weight_per_factor():
    space = ProductSpace({"x": EuclideanSpace(2), "tokens": SPACE})
    prod = ProductGenerator(
        space, {"x": FlowGenerator(), "tokens": CTMCGenerator(SPACE, KAPPA, source=SOURCE)}
    )
    states = SPACE.enumerate()[:4]
    x = {"x": torch.zeros(4, 2, dtype=D), "tokens": states}
    from genmatch.compose import ProductValue

    ua = ProductValue({"x": torch.ones(4, 2, dtype=D), "tokens": _random_posterior(states, 0)})
    ub = ProductValue({"x": torch.zeros(4, 2, dtype=D), "tokens": _random_posterior(states, 1)})
    t = {"x": torch.full((4,), 0.5, dtype=D), "tokens": torch.full((4,), 0.5, dtype=D)}
    cfg = ClassifierFreeGuidance(prod, weight={"x": 3.0, "tokens": 0.0})
    guided = cfg.combine(lambda *_: ua, lambda *_: ub)(x, t)
    torch.testing.assert_close(guided["x"], torch.full((4, 2), 4.0, dtype=D))
    assert guided["tokens"] is not ub["tokens"]
    assert torch.equal(guided["tokens"].probs, ua["tokens"].probs)
    with pytest.raises(ValueError, match="name factors"):
        ClassifierFreeGuidance(prod, weight={"x": 1.0}).combine(lambda *_: ua, lambda *_: ub)(x, t)


def test_cfg_on_the_exact_oracle_is_monotone_in_class_accuracy():
    toy = LabelledMixture(num_modes=8, std=0.6)
    data = toy.sample(400, generator=torch.Generator().manual_seed(0), dtype=D)
    path = AffineGaussianPath(CondOT())
    oracle = ExactMarginal(
        path, FlowGenerator(), data["x"], conditions=data["label"][:, 0], t_max=0.98
    )
    n = 800
    c = torch.arange(n) % 8
    acc = []
    for w in (0.0, 1.0, 3.0):
        cfg = ClassifierFreeGuidance(FlowGenerator(), w)
        x_0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(1), dtype=D)
        x = simulate(cfg, cfg.combine(oracle.given(c), oracle), x_0, 50).x
        acc.append(float((toy.posterior(x).argmax(1) == c).double().mean()))
    assert acc[0] < acc[1] < acc[2], acc
    assert acc[0] < 0.85 and acc[2] > 0.95, acc


def test_condition_channel_trains_one_network_for_both_and_guides_it():
    toy = LabelledMixture(num_modes=8, std=0.6)
    data = toy.sample(2048, generator=torch.Generator().manual_seed(0))
    flow = FlowGenerator()
    torch.manual_seed(0)
    net = MLP(
        EuclideanSpace(2),
        flow.head_shapes(EuclideanSpace(2)),
        hidden=64,
        condition=LabelEmbedding(8, 16),
    )
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow, p_uncond=0.2)
    train(
        loss_fn, net, data["x"], conditions=data["label"][:, 0], steps=400, batch_size=256, lr=3e-3
    )
    n = 400
    c = torch.arange(n) % 8
    x_0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(1))
    acc = {}
    for w in (0.0, 3.0):
        x = simulate(ClassifierFreeGuidance(flow, w), net, x_0, 16, condition=c).x
        acc[w] = float((toy.posterior(x).argmax(1) == c).double().mean())
    x_uncond = simulate(flow, net, x_0, 16).x
    labels = toy.posterior(x_uncond).argmax(1)
    assert acc[0.0] > 0.5 and acc[3.0] > acc[0.0] + 0.05, acc
    assert torch.bincount(labels, minlength=8).min() > n / 32  # unconditional covers every mode
    # the null condition is the unconditional model, a Condition with no present row too
    u = net(x_0, torch.full((n,), 0.3))["velocity"]
    torch.testing.assert_close(net(x_0, torch.full((n,), 0.3), Condition.null(n))["velocity"], u)
    with pytest.raises(ValueError, match="needs a condition"):
        simulate(ClassifierFreeGuidance(flow, 1.0), net, x_0, 4)


def test_condition_errors_are_clear():
    flow = FlowGenerator()
    net = MLP(EuclideanSpace(2), flow.head_shapes(EuclideanSpace(2)), hidden=8)
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow)
    with pytest.raises(TypeError, match="takes no condition"):
        loss_fn(net, torch.randn(4, 2), c=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="rows"):
        loss_fn(net, torch.randn(4, 2), c=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="p_uncond"):
        GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow, p_uncond=1.5)
    with pytest.raises(ValueError, match="no conditions"):
        GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow, p_uncond=0.1)(
            net, torch.randn(4, 2)
        )
    labelled = MLP(
        EuclideanSpace(2),
        flow.head_shapes(EuclideanSpace(2)),
        hidden=8,
        condition=LabelEmbedding(3, 4),
    )
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        labelled(torch.randn(2, 2), torch.rand(2), torch.tensor([0, 5]))


def test_conditional_sequence_model_trains_and_samples_guided_ctmc():
    """A masked CTMC on two 'topics' (all tokens equal to the topic's parity), one conditional
    SequenceTransformer: the null condition is the unconditional model, guidance raises the
    fraction of sequences on topic."""
    from genmatch.nn import SequenceTransformer

    space = DiscreteSpace(4, 4, mask=True)
    source = CategoricalSource.masked(space)
    path = FactorizedMixturePath(space, source, KAPPA)
    ctmc = CTMCGenerator(space, KAPPA, source=source)
    g = torch.Generator().manual_seed(0)
    topic = torch.randint(2, (2048,), generator=g)
    tokens = 2 * torch.randint(2, (2048, 4), generator=g) + topic[:, None]  # parity = topic
    torch.manual_seed(0)
    net = SequenceTransformer(
        space, ctmc.head_shapes(space), d_model=32, num_heads=2, condition=LabelEmbedding(2, 16)
    )
    loss_fn = GeneratorMatchingLoss(path, ctmc, p_uncond=0.2)
    train(loss_fn, net, tokens, conditions=topic, steps=150, batch_size=128, lr=3e-3)
    n = 400
    c = torch.arange(n) % 2
    x_0 = torch.full((n, 4), space.mask_token)
    on_topic = {}
    for w in (0.0, 2.0):
        x = simulate(
            ClassifierFreeGuidance(ctmc, w),
            net,
            x_0,
            8,
            condition=c,
            rng=torch.Generator().manual_seed(1),
        ).x
        assert int(x.max()) < space.mask_token  # everything unmasked at the last step
        on_topic[w] = float(((x % 2) == c[:, None]).all(1).double().mean())
    print(on_topic)
    assert on_topic[0.0] > 0.5 and on_topic[2.0] >= on_topic[0.0], on_topic
    t = torch.full((n,), 0.4)
    torch.testing.assert_close(net(x_0, t, Condition.null(n))["logits"], net(x_0, t)["logits"])
