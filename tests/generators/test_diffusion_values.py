"""Diffusions: exact values of the parametrization, the conditional target and one step.

Checks :mod:`genmatch.generators.diffusion` against hand-computed values: heads and
constraints of the three coefficient structures, ``K f = (∇f, ½∇²f)`` and the inner product,
guidance, scaling and posterior means, the divergence, the conditional drift
``u + ½ g² ∇log p + ½ ∇g²`` on CondOT, the Euler–Maruyama step and ``N(0, Σ)`` kicks, and the
errors for bad coefficients and field values.
"""

import math
import re

import pytest
import torch

from genmatch import AffineGaussianPath, CondOT, EuclideanSpace, PathSample
from genmatch._checks import value_checks
from genmatch.generators import DiffusionGenerator, UnsupportedPathError
from genmatch.generators.diffusion import (
    DiffusionStructure,
    DriftDiffusion,
    DriftDiffusionMSE,
    DriftDiffusionParametrization,
    _as_matrix,
    diffusion_kick,
)

D64 = torch.float64
S = DiffusionStructure
L2 = math.log(2.0)


def _t(v):
    return torch.tensor(v, dtype=D64)


def test_coefficients_as_matrices():
    assert _as_matrix(_t([2.0]), 2).tolist() == [[[2.0, 0.0], [0.0, 2.0]]]
    assert _as_matrix(_t([[1.0, 3.0]]), 2).tolist() == [[[1.0, 0.0], [0.0, 3.0]]]
    full = _t([[[1.0, 2.0], [3.0, 4.0]]])
    assert _as_matrix(full, 2) is full


def test_heads_per_structure():
    space = EuclideanSpace(3)
    heads = {s: DriftDiffusionParametrization(s).head_shapes(space) for s in S}
    assert heads[S.SCALAR] == {"drift": (3,), "diffusion": ()}
    assert heads[S.DIAGONAL] == {"drift": (3,), "diffusion": (3,)}
    assert heads[S.FULL] == {"drift": (3,), "diffusion": (3, 3)}
    assert DriftDiffusionParametrization().structure is S.SCALAR
    with pytest.raises(TypeError, match=r"diffusions need a Euclidean space of vectors \(d,\)"):
        DriftDiffusionParametrization().head_shapes(type("Grid", (), {"event_shape": (2, 2)})())
    with pytest.raises(TypeError, match="diffusions need a Euclidean space"):
        DriftDiffusionParametrization().head_shapes(object())


def test_constrain_softplus_and_cholesky():
    drift = _t([[1.0, -2.0]])
    x, t = torch.zeros(1, 2, dtype=D64), torch.zeros(1, dtype=D64)
    scalar = DriftDiffusionParametrization(S.SCALAR).constrain(
        {"drift": drift, "diffusion": _t([0.0])}, x, t
    )
    assert scalar.drift is drift
    torch.testing.assert_close(scalar.diffusion, _t([L2]))
    diag = DriftDiffusionParametrization(S.DIAGONAL).constrain(
        {"drift": drift, "diffusion": _t([[0.0, 1.0]])}, x, t
    )
    torch.testing.assert_close(diag.diffusion, _t([[L2, math.log1p(math.e)]]))
    # lower triangle 2 below a softplus diagonal; the upper entry 5 is ignored
    full = DriftDiffusionParametrization(S.FULL).constrain(
        {"drift": drift, "diffusion": _t([[[0.0, 5.0], [2.0, 0.0]]])}, x, t
    )
    expected = _t([[[L2**2, 2 * L2], [2 * L2, 4 + L2**2]]])
    torch.testing.assert_close(full.diffusion, expected, atol=1e-15, rtol=0)


def test_generator_action_is_drift_gradient_plus_half_trace():
    param = DriftDiffusionParametrization(S.FULL)

    def f(x):
        return x[:, 0] ** 2 * x[:, 1] + x[:, 1]

    x = _t([[1.0, 2.0]])
    grad, hessian = param.test_operator(f, x)
    assert grad.tolist() == [[4.0, 2.0]]
    assert hessian.tolist() == [[[4.0, 2.0], [2.0, 0.0]]]
    assert not grad.requires_grad and not hessian.requires_grad
    full = DriftDiffusion(_t([[1.0, -1.0]]), _t([[[1.0, 0.5], [0.5, 3.0]]]))
    # b·∇f + ½ Σ_ij Σ_ij H_ij = (4 − 2) + ½ (4 + 2·0.5·2 + 0) = 5
    assert param.apply(f, x, full).tolist() == [5.0]
    scalar = DriftDiffusion(_t([[1.0, -1.0]]), _t([3.0]))
    assert param.apply(f, x, scalar).tolist() == [2.0 + 0.5 * 3.0 * 4.0]
    diag = DriftDiffusion(_t([[0.0, 0.0]]), _t([[1.0, 7.0]]))
    assert param.apply(f, x, diag).tolist() == [2.0]


def test_guide_scale_and_posterior_mean():
    param = DriftDiffusionParametrization(S.DIAGONAL)
    cond = DriftDiffusion(_t([[1.0, 2.0]]), _t([[0.5, 0.5]]))
    unc = DriftDiffusion(_t([[3.0, 0.0]]), _t([[9.0, 9.0]]))
    guided = param.guide(cond, unc, _t([2.0]), torch.zeros(1, 2, dtype=D64))
    assert guided.drift.tolist() == [[-3.0, 6.0]] and guided.diffusion is cond.diffusion
    for diffusion in (_t([1.0, 2.0]), _t([[1.0, 1.0], [2.0, 2.0]]), torch.ones(2, 2, 2, dtype=D64)):
        value = DriftDiffusion(_t([[1.0, 1.0], [1.0, 1.0]]), diffusion)
        scaled = param.scale(value, _t([2.0, 3.0]))
        assert scaled.drift.tolist() == [[2.0, 2.0], [3.0, 3.0]]
        factor = _t([2.0, 3.0]).reshape(-1, *[1] * (diffusion.dim() - 1))
        assert scaled.diffusion.tolist() == (factor * diffusion).tolist()
    values = DriftDiffusion(
        _t([[1.0, 0.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]), _t([1.0, 3.0, 0.0, 2.0])
    )
    mean = param.posterior_mean(values, _t([[0.25, 0.75], [0.5, 0.5]]))
    assert mean.drift.tolist() == [[2.5, 3.0], [6.0, 7.0]]
    assert mean.diffusion.tolist() == [2.5, 1.0]


def test_drift_diffusion_divergence_values():
    a = DriftDiffusion(_t([[1.0, 2.0]]), _t([[[1.0, 0.0], [0.0, 2.0]]]))
    b = DriftDiffusion(_t([[0.0, 0.0]]), _t([[[0.0, 1.0], [1.0, 2.0]]]))
    div = DriftDiffusionMSE()
    assert div.phi(a).tolist() == [5.0 + 5.0]
    assert div(a, b).tolist() == [5.0 + 3.0]
    assert div.generic(a, b).tolist() == pytest.approx([8.0], abs=1e-12)
    assert div(a, a).tolist() == [0.0]


def test_construction_checks():
    gen = DiffusionGenerator()
    assert gen.parametrization == DriftDiffusionParametrization(S.SCALAR)
    assert gen.divergence == DriftDiffusionMSE()
    assert DiffusionGenerator(structure=S.FULL).parametrization.structure is S.FULL
    with pytest.raises(TypeError, match=r"structure must be a DiffusionStructure"):
        DiffusionGenerator(structure="full")
    with pytest.raises(TypeError, match="divergence must be an instance of"):
        DiffusionGenerator(divergence=DriftDiffusionMSE)
    with pytest.raises(TypeError, match=r"coefficient must be a function \(x, t, z\).*got float"):
        DiffusionGenerator(coefficient=0.5)


PATH = AffineGaussianPath(CondOT())
X = _t([[1.0, -1.0], [0.5, 2.0]])
Z = _t([[2.0, 0.0], [-1.0, 1.0]])
T = _t([0.5, 0.75])


def _expected_drift(g2, grad_g2):
    """CondOT: ``u = (z − x)/(1 − t)``, ``∇log p = −(x − t z)/(1 − t)²``."""
    s = (1 - T)[:, None]
    u = (Z - X) / s
    score = -(X - T[:, None] * Z) / s**2
    return u + 0.5 * g2[:, None] * score + 0.5 * grad_g2


@pytest.mark.parametrize("structure", list(S), ids=lambda s: s.value)
def test_conditional_target_with_a_state_dependent_coefficient(structure):
    gen = DiffusionGenerator(lambda x, t, z: x[:, 0] ** 2 + t, structure)
    value = gen.conditional_target(PATH, PathSample(x_t=X, t=T, z=Z))
    g2 = X[:, 0] ** 2 + T
    grad = torch.stack([2 * X[:, 0], torch.zeros(2, dtype=D64)], 1)
    torch.testing.assert_close(value.drift, _expected_drift(g2, grad), atol=1e-12, rtol=0)
    full = _as_matrix(value.diffusion, 2)
    torch.testing.assert_close(full, g2[:, None, None] * torch.eye(2, dtype=D64))
    assert value.diffusion.dim() == {S.SCALAR: 1, S.DIAGONAL: 2, S.FULL: 3}[structure]
    assert not value.drift.requires_grad and not value.diffusion.requires_grad


def test_conditional_target_with_the_default_and_constant_coefficients():
    default = DiffusionGenerator().conditional_target(PATH, PathSample(x_t=X, t=T, z=Z))
    ones = torch.ones(2, dtype=D64)
    torch.testing.assert_close(default.drift, _expected_drift(ones, 0 * X), atol=1e-12, rtol=0)
    assert default.diffusion.tolist() == [1.0, 1.0]
    const = DiffusionGenerator(lambda x, t, z: torch.full_like(t, 3.0))
    value = const.conditional_target(PATH, PathSample(x_t=X, t=T, z=Z))
    torch.testing.assert_close(value.drift, _expected_drift(3 * ones, 0 * X), atol=1e-12, rtol=0)
    zero = DiffusionGenerator(lambda x, t, z: torch.zeros_like(t))
    value = zero.conditional_target(PATH, PathSample(x_t=X, t=T, z=Z))
    torch.testing.assert_close(value.drift, (Z - X) / (1 - T)[:, None], atol=1e-12, rtol=0)


def test_conditional_target_errors():
    sample = PathSample(x_t=X, t=T, z=Z)
    with pytest.raises(UnsupportedPathError, match="implementing AbstractGaussianPath"):
        DiffusionGenerator().conditional_target(object(), sample)
    with pytest.raises(ValueError, match=r"act on flat vectors \(batch, d\), got \(2, 2, 1\)"):
        DiffusionGenerator().conditional_target(PATH, PathSample(X[..., None], T, Z[..., None]))
    with pytest.raises(ValueError, match="conditional drift"):
        DiffusionGenerator().conditional_target(PATH, PathSample(X, torch.ones(2, dtype=D64), Z))
    with pytest.raises(ValueError, match=r"must return g² as a tensor of shape \(2,\), got float"):
        DiffusionGenerator(lambda x, t, z: 0.5).conditional_target(PATH, sample)
    with pytest.raises(ValueError, match=r"of shape \(2,\), got \(2, 1\)"):
        DiffusionGenerator(lambda x, t, z: t[:, None]).conditional_target(PATH, sample)
    negative = DiffusionGenerator(lambda x, t, z: t - 0.6)
    with pytest.raises(ValueError, match="g² must be >= 0 .*got minimum -0.1"):
        negative.conditional_target(PATH, sample)
    with value_checks(False):
        assert negative.conditional_target(PATH, sample).diffusion.tolist() == pytest.approx(
            [-0.1, 0.15]
        )


@pytest.mark.parametrize("structure", list(S), ids=lambda s: s.value)
def test_euler_maruyama_step_is_exact_for_given_noise(structure):
    gen = DiffusionGenerator(structure=structure)
    diffusion = {
        S.SCALAR: _t([4.0, 0.25]),
        S.DIAGONAL: _t([[4.0, 1.0], [0.25, 9.0]]),
        S.FULL: _t([[[4.0, 2.0], [2.0, 2.0]], [[1.0, 0.0], [0.0, 0.25]]]),
    }[structure]
    value = DriftDiffusion(_t([[1.0, 2.0], [-1.0, 0.0]]), diffusion)
    x, t, h = _t([[0.0, 1.0], [2.0, 3.0]]), _t([0.1, 0.1]), 0.25

    def field(y, s):
        assert y is x and s is t
        return value

    out = gen.step(field, x, t, h, generator=torch.Generator().manual_seed(3))
    noise = torch.randn(2, 2, generator=torch.Generator().manual_seed(3), dtype=D64)
    root = torch.linalg.cholesky(_as_matrix(diffusion, 2))
    expected = x + h * value.drift + 0.5 * (root @ noise[..., None])[..., 0]
    torch.testing.assert_close(out, expected, atol=1e-14, rtol=0)


def test_step_rejects_misshaped_values():
    gen = DiffusionGenerator()
    x, t = torch.zeros(2, 3), torch.zeros(2)
    bad_drift = DriftDiffusion(torch.zeros(2, 2), torch.ones(2))
    with pytest.raises(ValueError, match=r"drift of shape \(2, 2\) for points of shape \(2, 3\)"):
        gen.step(lambda y, s: bad_drift, x, t, 0.1)
    for shape in [(3,), (2, 2), (2, 3, 2), (2, 3, 3, 1)]:
        bad = DriftDiffusion(torch.zeros(2, 3), torch.ones(shape))
        with pytest.raises(ValueError, match=rf"coefficient of shape {re.escape(str(shape))}; for"):
            gen.step(lambda y, s, bad=bad: bad, x, t, 0.1)
    for good in [(2,), (2, 3)]:
        ok = DriftDiffusion(torch.zeros(2, 3), torch.ones(good))
        assert gen.step(lambda y, s, ok=ok: ok, x, t, 0.0).tolist() == x.tolist()
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        gen.step(lambda y, s: bad_drift, x, t + 2, 0.1)


def test_kicks_for_every_coefficient_form():
    noise = _t([[1.0, -2.0]])
    assert diffusion_kick(_t([4.0]), noise).tolist() == [[2.0, -4.0]]
    assert diffusion_kick(_t([[4.0, 9.0]]), noise).tolist() == [[2.0, -6.0]]
    full = _t([[[4.0, 2.0], [2.0, 2.0]]])  # L = [[2, 0], [1, 1]]
    assert diffusion_kick(full, noise).tolist() == [[2.0, -1.0]]
    # PSD but singular: the symmetric root, tiny negative eigenvalues (relative to max(1, |λ|))
    for sigma in ([[1.0, 0.0], [0.0, -1e-9]], [[4.0, 0.0], [0.0, -2e-6]]):
        kick = diffusion_kick(_t([sigma]), noise)
        # root V diag(√λ) (eigenvalues ascending): the kick is √σ_00 times the second draw
        assert abs(kick[0, 0].item()) == pytest.approx(2 * math.sqrt(sigma[0][0]), abs=1e-12)
        assert kick[0, 1].item() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match=r"not positive semi-definite: smallest eigenvalue -2e-06"):
        diffusion_kick(_t([[[0.5, 0.0], [0.0, -2e-6]]]), noise)
    with pytest.raises(ValueError, match=r"coefficient must be >= 0, got minimum -1"):
        diffusion_kick(_t([-1.0]), noise)
    with value_checks(False):
        assert diffusion_kick(_t([-1.0]), noise).tolist() == [[0.0, -0.0]]
        assert diffusion_kick(_t([[-1.0, 4.0]]), noise).tolist() == [[0.0, -4.0]]


def test_values_over_a_batch_of_two():
    """Per-point sums and scalings, and the strictly lower triangle of the FULL head."""
    a = DriftDiffusion(_t([[1.0, 2.0], [0.0, 3.0]]), _t([[1.0, 0.0], [2.0, 2.0]]))
    assert DriftDiffusionMSE().phi(a).tolist() == [6.0, 17.0]
    param = DriftDiffusionParametrization(S.DIAGONAL)
    scaled = param.scale(a, _t([2.0, 3.0]))
    assert scaled.drift.tolist() == [[2.0, 4.0], [0.0, 9.0]]
    full = DriftDiffusionParametrization(S.FULL).constrain(
        {"drift": a.drift[:1], "diffusion": _t([[[1.0, 0.0], [0.0, 1.0]]])},
        torch.zeros(1, 2, dtype=D64),
        torch.zeros(1, dtype=D64),
    )
    sp = math.log1p(math.e)
    torch.testing.assert_close(full.diffusion, _t([[[sp**2, 0.0], [0.0, sp**2]]]))
    with pytest.raises(ValueError, match="smallest eigenvalue -0.5"):
        diffusion_kick(_t([[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.0], [0.0, -0.5]]]), torch.ones(2, 2))


def test_diffusion_messages_in_full():
    with pytest.raises(
        TypeError,
        match=r"^coefficient must be a function \(x, t, z\) ↦ g² of shape \(batch,\), or None "
        r"for g² = 1; got float$",
    ):
        DiffusionGenerator(3.0)
    sample = PathSample(x_t=X, t=T, z=Z)
    with pytest.raises(
        UnsupportedPathError,
        match=r"^DiffusionGenerator has no conditional target for object: it needs a path "
        r"implementing AbstractGaussianPath$",
    ):
        DiffusionGenerator().conditional_target(object(), sample)
    with pytest.raises(
        ValueError,
        match=r"^the diffusion's conditional drift \(it has the score\) is singular where sigma_t",
    ):
        DiffusionGenerator().conditional_target(PATH, PathSample(X, torch.ones(2, dtype=D64), Z))
    bad = DriftDiffusion(torch.zeros(2, 3), torch.ones(3))
    with pytest.raises(
        ValueError,
        match=r"^the field returned a diffusion coefficient of shape \(3,\); for points \(2, 3\) "
        r"it must be \(batch,\), \(batch, d\) or \(batch, d, d\)$",
    ):
        DiffusionGenerator().step(lambda y, s: bad, torch.zeros(2, 3), torch.zeros(2), 0.1)
    with pytest.raises(
        ValueError,
        match=r"^diffusion coefficient Σ is not positive semi-definite: smallest "
        r"eigenvalue -2e-06$",
    ):
        diffusion_kick(_t([[[0.5, 0.0], [0.0, -2e-6]]]), _t([[1.0, 1.0]]))


def test_a_coefficient_that_needs_grad_but_ignores_x_has_no_gradient_term():
    p = torch.tensor(0.5, dtype=D64, requires_grad=True)
    sample = PathSample(x_t=X, t=T, z=Z)
    value = DiffusionGenerator(lambda x, t, z: p * torch.ones_like(t)).conditional_target(
        PATH, sample
    )
    constant = DiffusionGenerator(lambda x, t, z: 0.5 * torch.ones_like(t)).conditional_target(
        PATH, sample
    )
    torch.testing.assert_close(value.drift, constant.drift, atol=1e-15, rtol=0)
    assert value.diffusion.tolist() == [0.5, 0.5]


def test_kick_tolerances_per_point_and_at_the_boundary():
    noise = _t([[1.0, 1.0], [1.0, 1.0]])
    # each point's tolerance scales with its own largest eigenvalue, not the batch's
    with pytest.raises(ValueError, match=r"smallest eigenvalue -2e-06$"):
        diffusion_kick(_t([[[100.0, 0.0], [0.0, 1.0]], [[0.5, 0.0], [0.0, -2e-6]]]), noise)
    # an eigenvalue of exactly −1e-6·max(1, |λ|) is still accepted (clamped to 0)
    kick = diffusion_kick(_t([[[0.5, 0.0], [0.0, -1e-6]]]), noise[:1])
    torch.testing.assert_close(kick, _t([[0.5**0.5, 0.0]]), atol=1e-15, rtol=0)
    # a zero scalar or diagonal coefficient is valid: no kick
    assert diffusion_kick(_t([0.0]), noise[:1]).tolist() == [[0.0, 0.0]]
    assert diffusion_kick(_t([[0.0, 4.0]]), noise[:1]).tolist() == [[0.0, 2.0]]
