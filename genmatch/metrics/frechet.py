"""The Fréchet distance between Gaussian fits of two point clouds (the "FID" of image models).

Computed on features (a classifier's hidden layer) it is the Fréchet Inception Distance of
Heusel et al. (2017) with the classifier in place of Inception; on raw points it is the
squared 2-Wasserstein distance between the two fitted Gaussians.
"""

from __future__ import annotations

import torch

from genmatch.metrics.euclidean import _validate_pair

__all__ = ["frechet_distance", "gaussian_frechet_distance"]


def _psd_sqrt(a: torch.Tensor) -> torch.Tensor:
    """``a^{1/2}`` of a symmetric positive semi-definite matrix (negative round-off clipped)."""
    eigenvalues, eigenvectors = torch.linalg.eigh(a)
    return (eigenvectors * eigenvalues.clamp_min(0).sqrt()) @ eigenvectors.mT


def gaussian_frechet_distance(
    mean_x: torch.Tensor, cov_x: torch.Tensor, mean_y: torch.Tensor, cov_y: torch.Tensor
) -> torch.Tensor:
    r"""Squared 2-Wasserstein (Fréchet) distance between ``N(μ_x, Σ_x)`` and ``N(μ_y, Σ_y)``:

    .. math::
        d^2 = |μ_x − μ_y|^2 + \operatorname{tr}\big(Σ_x + Σ_y
              − 2 (Σ_x^{1/2} Σ_y Σ_x^{1/2})^{1/2}\big).

    The matrix square roots are taken by eigendecomposition in float64 (eigenvalues below
    zero from round-off are clipped), so the result is symmetric in its two arguments up to
    round-off and zero for equal Gaussians.

    Args:
        mean_x: ``μ_x``.
        cov_x: ``Σ_x``, symmetric positive semi-definite.
        mean_y: ``μ_y``.
        cov_y: ``Σ_y``, symmetric positive semi-definite.

    Returns:
        Scalar tensor in the dtype of ``mean_x``.

    Shapes:
        means: ``(d,)``; covariances: ``(d, d)``; result: ``()``.

    Raises:
        ValueError: on shapes that do not match ``(d,)`` and ``(d, d)``, or non-finite values.

    Example:
        >>> import torch
        >>> eye = torch.eye(2, dtype=torch.float64)
        >>> float(gaussian_frechet_distance(torch.zeros(2), eye, torch.ones(2), 4 * eye))
        4.0
    """
    d = mean_x.shape[-1] if mean_x.dim() == 1 else -1
    for name, m, c in (("x", mean_x, cov_x), ("y", mean_y, cov_y)):
        if m.dim() != 1 or m.shape[0] != d or tuple(c.shape) != (d, d):
            raise ValueError(
                f"mean_{name} must be (d,) and cov_{name} (d, d) with the d of mean_x; got "
                f"{tuple(m.shape)} and {tuple(c.shape)} (d = {mean_x.shape[-1]})"
            )
        if not (bool(torch.isfinite(m).all()) and bool(torch.isfinite(c).all())):
            raise ValueError(f"mean_{name} or cov_{name} has non-finite values")
    f64 = torch.float64
    mx, my, sx, sy = (a.to(f64) for a in (mean_x, mean_y, cov_x, cov_y))
    root_x = _psd_sqrt((sx + sx.mT) / 2)
    middle = root_x @ ((sy + sy.mT) / 2) @ root_x
    cross = torch.linalg.eigvalsh((middle + middle.mT) / 2).clamp_min(0).sqrt().sum()
    value = (mx - my).square().sum() + torch.trace(sx) + torch.trace(sy) - 2 * cross
    return value.to(mean_x.dtype)


def frechet_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Fréchet distance between the Gaussian fits of two samples.

    With ``μ`` the sample means and ``Σ`` the unbiased sample covariances (divisor ``n − 1``),
    this is :func:`gaussian_frechet_distance` of ``N(μ_x, Σ_x)`` and ``N(μ_y, Σ_y)``. It is a
    biased estimate of the population value (positive between two samples of one
    distribution, more so in high dimension with few points), so compare it with the value
    between two real samples of the same sizes (the floor).

    Args:
        x: first sample.
        y: second sample, same dtype, device and dimension.

    Returns:
        Scalar tensor (dtype and device of ``x``).

    Shapes:
        ``x``: ``(n, d)``, ``n >= 2``; ``y``: ``(m, d)``, ``m >= 2``; result: ``()``.

    Raises:
        ValueError: as :func:`~genmatch.metrics.energy_distance` on bad samples.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0], [2.0]], dtype=torch.float64)  # mean 1, variance 2
        >>> y = torch.tensor([[1.0], [5.0]], dtype=torch.float64)  # mean 3, variance 8
        >>> round(float(frechet_distance(x, y)), 12)  # (1 - 3)² + (√2 - √8)²
        6.0
    """
    _validate_pair(x, y, min_points=2)
    f64 = torch.float64
    moments = []
    for sample in (x.to(f64), y.to(f64)):
        mean = sample.mean(0)
        centred = sample - mean
        moments += [mean, centred.T @ centred / (sample.shape[0] - 1)]
    return gaussian_frechet_distance(*moments).to(x.dtype)
