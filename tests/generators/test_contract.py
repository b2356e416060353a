"""Contract tests over every (generator, path) pair: the conditional target solves the KFE."""

import pytest
import torch

from genmatch import (
    VE,
    AffineGaussianPath,
    CondOT,
    Cosine,
    FlowGenerator,
    Polynomial,
    UnsupportedPathError,
    VPLinear,
)
from genmatch.paths.base import AbstractConditionalPath
from genmatch.testing import check_continuity_equation, kolmogorov_forward_gap

PATHS = [
    AffineGaussianPath(s) for s in (CondOT(), Polynomial(2.0), Cosine(), VPLinear(), VE(0.1, 3.0))
]
GENERATORS = [FlowGenerator()]
PAIRS = [(g, p) for g in GENERATORS for p in PATHS]


def _ids(v):
    return repr(v.schedule) if hasattr(v, "schedule") else type(v).__name__


@pytest.mark.parametrize(("generator", "path"), PAIRS, ids=_ids)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_continuity_equation_strong_form(generator, path, seed):
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(32, 3, dtype=torch.float64, generator=rng)
    x = 2 * torch.randn(32, 3, dtype=torch.float64, generator=rng)
    t = 0.02 + 0.96 * torch.rand(32, dtype=torch.float64, generator=rng)
    residual = check_continuity_equation(path, generator, x, t, z, atol=1e-7)
    assert residual.abs().max() < 1e-7


@pytest.mark.parametrize(("generator", "path"), PAIRS, ids=_ids)
@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_kolmogorov_forward_weak_form(generator, path, t):
    """d/dt ⟨p_t(·|z), f⟩ = ⟨p_t(·|z), L_t^z f⟩ by quadrature in 2-D, for two test functions."""
    z = torch.tensor([0.7, -0.4], dtype=torch.float64)
    tests = [
        lambda x: torch.sin(x[:, 0]) * torch.cos(0.5 * x[:, 1]),
        lambda x: (x**2).sum(1) + x[:, 0],
    ]
    scale = float(path.schedule(torch.tensor(t, dtype=torch.float64)).sigma_t)
    for f in tests:
        lhs, rhs = kolmogorov_forward_gap(
            path, generator, f, z, t, bounds=(-1 - 8 * scale, 1 + 8 * scale), points=301
        )
        assert abs(float(lhs - rhs)) < 1e-6 * max(1.0, abs(float(lhs)))
        assert abs(float(lhs)) > 1e-3  # the check is not vacuous


def test_weak_form_detects_a_wrong_target():
    """A deliberately wrong velocity fails the same check (the test can fail)."""

    path = AffineGaussianPath(CondOT())
    flow = FlowGenerator()

    class ScaledFlow:
        parametrization = flow.parametrization

        def conditional_target(self, p, s):
            return 1.1 * flow.conditional_target(p, s)

        def apply(self, f, x, v):
            return flow.apply(f, x, v)

    z = torch.tensor([0.7, -0.4], dtype=torch.float64)
    lhs, rhs = kolmogorov_forward_gap(
        path, ScaledFlow(), lambda x: (x**2).sum(1), z, 0.5, bounds=(-6, 6), points=201
    )
    assert abs(float(lhs - rhs)) > 1e-2


def test_unsupported_path_raises_clear_error():
    class OtherPath(AbstractConditionalPath):
        def sample(self, z, t, *, x_0=None, generator=None):
            raise AssertionError

    with pytest.raises(
        UnsupportedPathError, match="FlowGenerator has no conditional target for OtherPath"
    ):
        FlowGenerator().conditional_target(OtherPath(), None)
