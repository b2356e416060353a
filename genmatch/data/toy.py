"""Seeded two-dimensional toy distributions.

Every sampler is a pure function of its arguments and the state of the random number generator
it is given: ``sampler(n, *, generator=None, dtype=torch.float32, device=None)`` returns a float
tensor of shape ``(n, 2)``.  All sets live roughly in ``[-4, 4]^2`` with a per-coordinate standard
deviation between about 1 and 2.3, matching the toy sets commonly used in flow-matching papers.

Randomness and devices:
    All random numbers are drawn from ``generator`` (torch's default CPU generator when it is
    ``None``) in ``float64`` on the generator's device, and the result is then cast to ``dtype``
    and moved to ``device``.  Consequently the same seed gives the same points (up to rounding)
    for every ``dtype``, and ``dtype``/``device`` never change the random stream.  When ``device``
    is ``None`` the result stays on the generator's device (or on torch's default device when
    ``generator`` is ``None``).  The number of random draws never depends on ``noise``, so a
    sample with ``noise=s`` differs from the sample with ``noise=0`` of the same seed by exactly
    ``s`` times one fixed standard normal matrix.
"""

from __future__ import annotations

import math

import torch

from genmatch._checks import check_positive_int

__all__ = [
    "ALL_TOY_SETS",
    "EIGHT_GAUSSIANS_RADIUS",
    "EIGHT_GAUSSIANS_STD",
    "SPIRALS_MAX_ANGLE",
    "SPIRALS_SCALE",
    "checkerboard",
    "eight_gaussians",
    "spirals",
    "two_moons",
]

#: Radius of the circle carrying the eight Gaussian centres (``4 / sqrt(2) = 2 sqrt(2)``).
EIGHT_GAUSSIANS_RADIUS: float = 2.0 * math.sqrt(2.0)
#: Isotropic standard deviation of each of the eight Gaussians (``0.5 / sqrt(2)``).
EIGHT_GAUSSIANS_STD: float = 0.5 / math.sqrt(2.0)
#: Largest spiral angle ``t`` in radians (one and a half turns).
SPIRALS_MAX_ANGLE: float = 3.0 * math.pi
#: Spiral radius per radian: a point at angle ``t`` has radius ``SPIRALS_SCALE * t``.
SPIRALS_SCALE: float = 1.0 / 3.0


def _check_dtype(dtype: torch.dtype) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")


def _check_noise(noise: float) -> float:
    try:
        value = float(noise)
    except (TypeError, ValueError):
        raise ValueError(f"noise must be a finite float >= 0, got {noise!r}") from None
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"noise must be a finite float >= 0, got {noise!r}")
    return value


def _source_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _finish(
    points: torch.Tensor,
    generator: torch.Generator | None,
    dtype: torch.dtype,
    device: torch.device | str | None,
) -> torch.Tensor:
    if device is None:
        target = generator.device if generator is not None else torch.empty(0).device
    else:
        target = torch.device(device)
    return points.to(device=target, dtype=dtype)


def checkerboard(
    n: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sample the uniform distribution on the black squares of a 4x4 checkerboard.

    The square ``[-4, 4]^2`` is split into 4x4 cells of side 2; cell ``(i, j)`` (``i, j`` in
    ``{0, 1, 2, 3}``) is ``[-4 + 2i, -2 + 2i) x [-4 + 2j, -2 + 2j)`` and is filled iff ``i + j``
    is even, i.e. a point ``(x, y)`` is in the support iff
    ``floor((x + 4) / 2) + floor((y + 4) / 2)`` is even (8 filled cells, including the bottom-left
    one).  Both marginals are uniform on ``[-4, 4]`` (standard deviation ``4 / sqrt(3) ~ 2.31``).

    Args:
        n: Number of points, an integer ``>= 1``.
        generator: Source of randomness; torch's default CPU generator when ``None``.
        dtype: Floating-point dtype of the result.
        device: Device of the result (see the module docstring for the default).

    Returns:
        Tensor of shape ``(n, 2)``.

    Raises:
        ValueError: If ``n`` is not an integer ``>= 1`` or ``dtype`` is not floating point.

    Example:
        >>> x = checkerboard(1000, generator=torch.Generator().manual_seed(0))
        >>> x.shape, x.dtype
        (torch.Size([1000, 2]), torch.float32)
        >>> cells = torch.floor((x + 4) / 2).long()
        >>> bool(((cells.sum(dim=1) % 2) == 0).all())
        True
    """
    n = check_positive_int(n, "n")
    _check_dtype(dtype)
    src = _source_device(generator)
    i = torch.randint(0, 4, (n,), generator=generator, device=src)
    # Rows j of the same parity as i, so that i + j is even.
    j = 2 * torch.randint(0, 2, (n,), generator=generator, device=src) + i % 2
    offset = torch.rand(n, 2, generator=generator, device=src, dtype=torch.float64)
    cells = torch.stack((i, j), dim=1).to(torch.float64)
    points = -4.0 + 2.0 * (cells + offset)
    return _finish(points, generator, dtype, device)


def eight_gaussians(
    n: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sample an equal-weight mixture of eight isotropic Gaussians on a circle.

    The centres are ``c_k = R (cos(k pi / 4), sin(k pi / 4))`` for ``k = 0, ..., 7`` with
    ``R = EIGHT_GAUSSIANS_RADIUS = 2 sqrt(2)`` (so e.g. ``(2, 2)`` is a centre), and every
    component has covariance ``s^2 I`` with ``s = EIGHT_GAUSSIANS_STD = 0.5 / sqrt(2) ~ 0.354``.
    These are the classic FFJORD "8gaussians" (scale 4, std 0.5, then divided by ``sqrt 2``).
    The per-coordinate standard deviation is ``sqrt(R^2 / 2 + s^2) ~ 2.03``.

    Args:
        n: Number of points, an integer ``>= 1``.
        generator: Source of randomness; torch's default CPU generator when ``None``.
        dtype: Floating-point dtype of the result.
        device: Device of the result (see the module docstring for the default).

    Returns:
        Tensor of shape ``(n, 2)``.

    Raises:
        ValueError: If ``n`` is not an integer ``>= 1`` or ``dtype`` is not floating point.

    Example:
        >>> x = eight_gaussians(4000, generator=torch.Generator().manual_seed(0))
        >>> x.shape
        torch.Size([4000, 2])
        >>> bool((x.norm(dim=1) - EIGHT_GAUSSIANS_RADIUS).abs().mean() < 0.5)
        True
    """
    n = check_positive_int(n, "n")
    _check_dtype(dtype)
    src = _source_device(generator)
    k = torch.randint(0, 8, (n,), generator=generator, device=src)
    angle = k.to(torch.float64) * (math.pi / 4.0)
    centres = EIGHT_GAUSSIANS_RADIUS * torch.stack((torch.cos(angle), torch.sin(angle)), dim=1)
    eps = torch.randn(n, 2, generator=generator, device=src, dtype=torch.float64)
    points = centres + EIGHT_GAUSSIANS_STD * eps
    return _finish(points, generator, dtype, device)


def two_moons(
    n: int,
    *,
    noise: float = 0.05,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sample two interleaving half circles ("moons"), centred and scaled by 2.

    Each point picks a moon with probability 1/2 and an angle ``t ~ U[0, pi]``.  Before noise,
    the upper moon is ``(-1, -0.5) + 2 (cos t, sin t)`` and the lower moon is its point
    reflection ``(1, 0.5) - 2 (cos t, sin t)``; this is scikit-learn's ``make_moons`` shape
    shifted by ``-(0.5, 0.25)`` and scaled by 2.  The noiseless set lies in
    ``[-3, 3] x [-1.5, 1.5]`` and has mean zero; the per-coordinate standard deviations are
    about ``(1.73, 0.99)``.  Finally isotropic Gaussian noise of standard deviation ``noise`` is
    added in these output coordinates.

    Args:
        n: Number of points, an integer ``>= 1``.
        noise: Standard deviation of the additive Gaussian noise (output units), ``>= 0``.
        generator: Source of randomness; torch's default CPU generator when ``None``.
        dtype: Floating-point dtype of the result.
        device: Device of the result (see the module docstring for the default).

    Returns:
        Tensor of shape ``(n, 2)``.

    Raises:
        ValueError: If ``n`` is not an integer ``>= 1``, ``noise`` is negative or not finite,
            or ``dtype`` is not floating point.

    Example:
        >>> x = two_moons(500, noise=0.0, generator=torch.Generator().manual_seed(0))
        >>> upper = (x - torch.tensor([-1.0, -0.5])).norm(dim=1)
        >>> lower = (x - torch.tensor([1.0, 0.5])).norm(dim=1)
        >>> bool((torch.minimum((upper - 2).abs(), (lower - 2).abs()) < 1e-5).all())
        True
    """
    n = check_positive_int(n, "n")
    noise = _check_noise(noise)
    _check_dtype(dtype)
    src = _source_device(generator)
    upper = torch.rand(n, 1, generator=generator, device=src, dtype=torch.float64) < 0.5
    t = math.pi * torch.rand(n, generator=generator, device=src, dtype=torch.float64)
    arc = 2.0 * torch.stack((torch.cos(t), torch.sin(t)), dim=1)
    shift = torch.tensor([-1.0, -0.5], dtype=torch.float64, device=src)
    points = torch.where(upper, shift + arc, -shift - arc)
    eps = torch.randn(n, 2, generator=generator, device=src, dtype=torch.float64)
    points = points + noise * eps
    return _finish(points, generator, dtype, device)


def spirals(
    n: int,
    *,
    noise: float = 0.05,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sample two interleaved Archimedean spirals.

    Each point picks an arm ``a in {+1, -1}`` with probability 1/2 and an angle
    ``t = T sqrt(u)``, ``u ~ U[0, 1]``, ``T = SPIRALS_MAX_ANGLE = 3 pi`` (the square root makes
    the density roughly uniform along the arc).  Before noise the point is
    ``a * c * (-t cos t, t sin t)`` with ``c = SPIRALS_SCALE = 1/3``, so the radius is ``c t``,
    at most ``pi``; the second arm is the point reflection of the first (FFJORD's "2spirals").
    The per-coordinate standard deviation is about ``pi / 2 ~ 1.57``.  Finally isotropic
    Gaussian noise of standard deviation ``noise`` is added in these output coordinates.

    Args:
        n: Number of points, an integer ``>= 1``.
        noise: Standard deviation of the additive Gaussian noise (output units), ``>= 0``.
        generator: Source of randomness; torch's default CPU generator when ``None``.
        dtype: Floating-point dtype of the result.
        device: Device of the result (see the module docstring for the default).

    Returns:
        Tensor of shape ``(n, 2)``.

    Raises:
        ValueError: If ``n`` is not an integer ``>= 1``, ``noise`` is negative or not finite,
            or ``dtype`` is not floating point.

    Example:
        >>> x = spirals(500, noise=0.0, generator=torch.Generator().manual_seed(0))
        >>> bool((x.norm(dim=1) <= SPIRALS_SCALE * SPIRALS_MAX_ANGLE + 1e-5).all())
        True
    """
    n = check_positive_int(n, "n")
    noise = _check_noise(noise)
    _check_dtype(dtype)
    src = _source_device(generator)
    arm = torch.rand(n, 1, generator=generator, device=src, dtype=torch.float64) < 0.5
    u = torch.rand(n, generator=generator, device=src, dtype=torch.float64)
    t = SPIRALS_MAX_ANGLE * torch.sqrt(u)
    curve = SPIRALS_SCALE * torch.stack((-t * torch.cos(t), t * torch.sin(t)), dim=1)
    points = torch.where(arm, curve, -curve)
    eps = torch.randn(n, 2, generator=generator, device=src, dtype=torch.float64)
    points = points + noise * eps
    return _finish(points, generator, dtype, device)


#: The four toy samplers, in a fixed order.
ALL_TOY_SETS = (checkerboard, eight_gaussians, two_moons, spirals)
