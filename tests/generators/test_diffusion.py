"""Diffusion generators: Fokker–Planck of the conditional target, PSD coefficients, EM steps."""

import pytest
import torch

from genmatch import (
    MLP,
    AffineGaussianPath,
    CondOT,
    Cosine,
    EuclideanSpace,
    ExactMarginal,
    PathSample,
)
from genmatch.generators.diffusion import (
    DiffusionGenerator,
    DiffusionStructure,
    DriftDiffusion,
    DriftDiffusionMSE,
)
from genmatch.testing import kolmogorov_forward_gap

COEFFICIENTS = {
    "constant": None,
    "state-and-z": lambda x, t, z: 0.5 + 0.1 * (x**2).sum(1) + t * (z[:, 0] ** 2),
}


@pytest.mark.parametrize("schedule", [CondOT(), Cosine()], ids=repr)
@pytest.mark.parametrize("coefficient", list(COEFFICIENTS), ids=str)
@pytest.mark.parametrize("structure", list(DiffusionStructure), ids=lambda s: s.value)
def test_weak_kfe(schedule, coefficient, structure):
    gen = DiffusionGenerator(coefficient=COEFFICIENTS[coefficient], structure=structure)
    z = torch.tensor([0.6, -0.3], dtype=torch.float64)

    def f(x):
        return torch.sin(x[:, 0]) + torch.cos(0.7 * x[:, 1]) * x[:, 0]

    path = AffineGaussianPath(schedule)
    for t in (0.3, 0.7):
        lhs, rhs = kolmogorov_forward_gap(path, gen, f, z, t, bounds=(-6.0, 6.0), points=201)
        assert abs(float(lhs - rhs)) < 1e-6 * max(1.0, abs(float(lhs)))


@pytest.mark.parametrize("coefficient", list(COEFFICIENTS), ids=str)
def test_fokker_planck_strong_form(coefficient):
    """∂_t p + ∇·(b p) − ½ Δ(g² p) = 0 at random points, autograd in float64."""
    path = AffineGaussianPath(Cosine())
    gen = DiffusionGenerator(coefficient=COEFFICIENTS[coefficient])
    rng = torch.Generator().manual_seed(0)
    x = torch.randn(16, 2, dtype=torch.float64, generator=rng).requires_grad_(True)
    z = torch.randn(16, 2, dtype=torch.float64, generator=rng)
    t = 0.1 + 0.8 * torch.rand(16, dtype=torch.float64, generator=rng)
    p = path.log_prob(x, t, z).exp()
    value = gen.conditional_target(path, PathSample(x_t=x, t=t, z=z))
    # recompute b and g² with the graph to x (the target is detached by design)
    g2 = (COEFFICIENTS[coefficient] or (lambda x, t, z: torch.ones_like(t)))(x, t, z)
    assert torch.allclose(value.diffusion, g2.detach())
    s = path.schedule(t)
    score = -(x - s.alpha_t[:, None] * z) / (s.sigma_t**2)[:, None]
    if g2.requires_grad:
        (grad_g2,) = torch.autograd.grad(g2.sum(), x, create_graph=True)
    else:
        grad_g2 = torch.zeros_like(x)
    u = s.d_alpha_t[:, None] * z + (s.d_sigma_t / s.sigma_t)[:, None] * (x - s.alpha_t[:, None] * z)
    drift = u + 0.5 * g2[:, None] * score + 0.5 * grad_g2
    torch.testing.assert_close(drift.detach(), value.drift)
    flux = drift * p[:, None]
    div = sum(
        torch.autograd.grad(flux[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(2)
    )
    gp = g2 * p
    (grad_gp,) = torch.autograd.grad(gp.sum(), x, create_graph=True)
    lap = sum(
        torch.autograd.grad(grad_gp[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(2)
    )
    dt_p = p * path.d_log_prob_dt(x, t, z)
    residual = (dt_p + div - 0.5 * lap) / p
    assert float(residual.detach().abs().max()) < 1e-9
    # dropping the ½ g² ∇log p correction breaks it: the check can fail
    wrong = (u + 0.5 * grad_g2) * p[:, None]
    div_w = sum(
        torch.autograd.grad(wrong[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(2)
    )
    assert float(((dt_p + div_w - 0.5 * lap) / p).detach().abs().max()) > 1e-2


def test_marginal_coefficient_is_posterior_mean_and_cgm_gradient_matches():
    """E[g²(x|Z)|x] is the marginal coefficient (eq. 9.19); CGM and GM gradients agree (Thm 20)."""
    path = AffineGaussianPath(CondOT())
    coef = COEFFICIENTS["state-and-z"]
    gen = DiffusionGenerator(coefficient=coef)
    rng = torch.Generator().manual_seed(0)
    data = torch.randn(7, 2, dtype=torch.float64, generator=rng)
    oracle = ExactMarginal(path, gen, data)
    x = torch.randn(5, 2, dtype=torch.float64, generator=rng)
    t = torch.full((5,), 0.6, dtype=torch.float64)
    w = oracle.posterior(x, t)
    expected = (w * torch.stack([coef(x, t, data[i].expand(5, 2)) for i in range(7)], 1)).sum(1)
    torch.testing.assert_close(oracle(x, t).diffusion, expected)
    torch.manual_seed(0)
    net = MLP(EuclideanSpace(2), gen.head_shapes(EuclideanSpace(2)), hidden=16).double()
    pred = gen.constrain(net(x, t), x, t)
    rep = DriftDiffusion(pred.drift.repeat_interleave(7, 0), pred.diffusion.repeat_interleave(7, 0))
    cond = gen.conditional_target(
        path,
        PathSample(x_t=x.repeat_interleave(7, 0), t=t.repeat_interleave(7), z=data.repeat(5, 1)),
    )
    cgm = (w.reshape(-1) * gen.divergence(cond, rep)).sum()
    gm = gen.divergence(oracle(x, t), pred).sum()
    params = list(net.parameters())
    g1 = torch.autograd.grad(cgm, params, retain_graph=True)
    g2 = torch.autograd.grad(gm, params)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_full_structure_is_psd_and_divergence_is_bregman():
    gen = DiffusionGenerator(structure=DiffusionStructure.FULL)
    rng = torch.Generator().manual_seed(0)
    raw = {
        "drift": torch.randn(9, 3, generator=rng),
        "diffusion": torch.randn(9, 3, 3, generator=rng),
    }
    value = gen.constrain(raw, torch.zeros(9, 3), torch.zeros(9))
    assert bool((torch.linalg.eigvalsh(value.diffusion) > 0).all())
    torch.testing.assert_close(value.diffusion, value.diffusion.transpose(1, 2))
    other = gen.constrain({k: v + 1 for k, v in raw.items()}, torch.zeros(9, 3), torch.zeros(9))
    d = DriftDiffusionMSE()
    torch.testing.assert_close(d(value, other), d.generic(value, other))
    assert bool((d(value, other) > 0).all()) and float(d(value, value).abs().max()) == 0.0


@pytest.mark.parametrize("structure", list(DiffusionStructure), ids=lambda s: s.value)
def test_euler_maruyama_step_moments(structure):
    gen = DiffusionGenerator(structure=structure)
    n, h = 200_000, 0.01
    drift = torch.tensor([1.0, -2.0], dtype=torch.float64)
    cov = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    diffusion = {
        DiffusionStructure.SCALAR: torch.full((n,), 2.0, dtype=torch.float64),
        DiffusionStructure.DIAGONAL: torch.tensor([2.0, 1.0], dtype=torch.float64).expand(n, 2),
        DiffusionStructure.FULL: cov.expand(n, 2, 2),
    }[structure]
    expected_cov = {
        DiffusionStructure.SCALAR: 2.0 * torch.eye(2, dtype=torch.float64),
        DiffusionStructure.DIAGONAL: torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64)),
        DiffusionStructure.FULL: cov,
    }[structure]
    x = torch.zeros(n, 2, dtype=torch.float64)
    out = gen.step(
        lambda x, t: DriftDiffusion(drift.expand(n, 2), diffusion),
        x,
        torch.zeros(n),
        h,
        generator=torch.Generator().manual_seed(0),
    )
    torch.testing.assert_close(out.mean(0), h * drift, atol=5 * (2 * h / n) ** 0.5, rtol=0)
    torch.testing.assert_close(torch.cov(out.T) / h, expected_cov, atol=0.03, rtol=0)


@pytest.mark.parametrize(
    "diffusion",
    [
        torch.tensor([1.0, -0.5]),
        torch.tensor([[1.0, 1.0], [-0.1, 2.0]]),
        torch.tensor([[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]),
    ],
    ids=["scalar", "diagonal", "full"],
)
def test_non_psd_diffusion_is_rejected(diffusion):
    gen = DiffusionGenerator()
    value = DriftDiffusion(torch.zeros(2, 2), diffusion)
    with pytest.raises(ValueError, match="positive semi-definite|>= 0"):
        gen.step(lambda x, t: value, torch.zeros(2, 2), torch.zeros(2), 0.1)


def test_semidefinite_full_diffusion_uses_the_symmetric_root():
    """A rank-1 Σ (Cholesky fails) still gives N(0, Σ) kicks."""
    n = 100_000
    v = torch.tensor([1.0, 2.0], dtype=torch.float64)
    sigma = torch.outer(v, v).expand(n, 2, 2)
    noise = torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    from genmatch.generators.diffusion import diffusion_kick

    kick = diffusion_kick(sigma, noise)
    torch.testing.assert_close(torch.cov(kick.T), sigma[0], atol=0.05, rtol=0)
    # every kick lies on the line spanned by v
    cross = kick[:, 0] * v[1] - kick[:, 1] * v[0]
    assert float(cross.abs().max()) < 1e-10
