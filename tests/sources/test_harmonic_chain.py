"""HarmonicChainSource: its law (bonds i.i.d. N(0, s² I), centred chains), its density against
torch's multivariate normal in an orthonormal basis of the centred subspace, and its errors."""

from __future__ import annotations

import math

import pytest
import torch

import genmatch as gm
from genmatch import HarmonicChainSource


def _laplacian(length: int) -> torch.Tensor:
    lap = torch.zeros(length, length, dtype=torch.float64)
    for i in range(length - 1):
        lap[i, i] += 1
        lap[i + 1, i + 1] += 1
        lap[i, i + 1] -= 1
        lap[i + 1, i] -= 1
    return lap


def _centred_basis(length: int) -> torch.Tensor:
    """``(L, L − 1)`` orthonormal columns orthogonal to the all-ones vector."""
    m = torch.eye(length, dtype=torch.float64) - 1.0 / length
    q, _ = torch.linalg.qr(m[:, : length - 1])
    return q


def test_draws_are_centred_with_independent_bonds_of_the_given_rms_length() -> None:
    source = HarmonicChainSource(gm.EuclideanSpace((6, 3)), bond=2.0)
    x = source.sample(40_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert x.shape == (40_000, 6, 3) and x.dtype == torch.float64
    assert float(x.sum(1).abs().max()) < 1e-12
    bonds = (x[:, 1:] - x[:, :-1]).reshape(40_000, -1)  # (n, 15) i.i.d. N(0, 4/3)
    cov = bonds.T @ bonds / 40_000
    s2 = 4.0 / 3.0
    # standard error of a variance estimate: s² √(2/n) ≈ 0.0094; of a covariance s²/√n ≈ 0.0067
    assert torch.allclose(cov.diagonal(), torch.full((15,), s2, dtype=torch.float64), atol=0.04)
    off = cov - torch.diag(cov.diagonal())
    assert float(off.abs().max()) < 0.035
    assert math.isclose(source.step_std, 2.0 / math.sqrt(3.0))


def test_position_covariance_is_the_pseudo_inverse_of_the_chain_laplacian() -> None:
    length = 5
    source = HarmonicChainSource(gm.EuclideanSpace((length, 1)), bond=1.0)
    x = source.sample(100_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    cov = x[..., 0].T @ x[..., 0] / 100_000
    expected = torch.linalg.pinv(_laplacian(length))
    assert float((cov - expected).abs().max()) < 0.03  # entries up to 0.8, s.e. ≈ 0.004


@pytest.mark.parametrize(("length", "d", "bond"), [(2, 1, 1.0), (5, 3, 0.38), (8, 2, 3.8)])
def test_log_prob_is_the_gaussian_density_on_the_centred_subspace(
    length: int, d: int, bond: float
) -> None:
    source = HarmonicChainSource(gm.EuclideanSpace((length, d)), bond=bond)
    x = source.sample(7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    q = _centred_basis(length)
    s2 = bond**2 / d
    # coordinates in the subspace: y = Qᵀ x per dimension, y ~ N(0, s² (QᵀΛQ)⁻¹)
    precision = q.T @ _laplacian(length) @ q / s2
    normal = torch.distributions.MultivariateNormal(
        torch.zeros(length - 1, dtype=torch.float64), precision_matrix=precision
    )
    y = torch.einsum("lk,nld->ndk", q, x)
    expected = normal.log_prob(y).sum(-1)
    assert torch.allclose(source.log_prob(x), expected, rtol=0, atol=1e-10)


def test_log_prob_of_a_float32_batch_keeps_its_dtype() -> None:
    source = HarmonicChainSource(gm.EuclideanSpace((4, 3)), bond=1.0)
    x = source.sample(3, generator=torch.Generator().manual_seed(3))
    assert x.dtype == torch.float32 and source.log_prob(x).dtype == torch.float32


def test_the_loss_trains_from_it_as_a_source() -> None:
    space = gm.EuclideanSpace((4, 3))
    source = HarmonicChainSource(space, bond=1.0)
    loss = gm.GeneratorMatchingLoss(
        gm.AffineGaussianPath(gm.CondOT()), gm.FlowGenerator(), source=source, space=space
    )
    x_1 = torch.zeros(5, 4, 3)
    t = torch.full((5,), 0.5)
    rng = torch.Generator().manual_seed(4)
    x_0 = source.sample(5, generator=torch.Generator().manual_seed(4))

    def net(x: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"velocity": torch.zeros_like(x)}

    # the target is x_1 − x_0 = −x_0 for the source's own draw: the loss is ‖x_0‖²
    value = loss(net, x_1, t=t, generator=rng)
    assert torch.allclose(value, x_0.pow(2).flatten(1).sum(1).mean(), rtol=1e-6)


def test_off_support_points_and_bad_arguments_are_rejected() -> None:
    space = gm.EuclideanSpace((4, 3))
    source = HarmonicChainSource(space, bond=1.0)
    with pytest.raises(ValueError, match="centred chains"):
        source.log_prob(torch.ones(2, 4, 3))
    with gm.value_checks(False):
        assert source.log_prob(torch.ones(2, 4, 3)).shape == (2,)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 4, 3\)"):
        source.log_prob(torch.zeros(2, 3, 3))
    with pytest.raises(ValueError, match="event shape"):
        HarmonicChainSource(gm.EuclideanSpace(3), bond=1.0)
    with pytest.raises(ValueError, match="L >= 2"):
        HarmonicChainSource(gm.EuclideanSpace((1, 3)), bond=1.0)
    with pytest.raises(TypeError, match="EuclideanSpace"):
        HarmonicChainSource(gm.DiscreteSpace(4, 3), bond=1.0)  # type: ignore[arg-type]
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="bond must be finite and > 0"):
            HarmonicChainSource(space, bond=bad)
    with pytest.raises(TypeError, match="bond must be a float"):
        HarmonicChainSource(space, bond=True)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        source.sample(0)
