"""Backbone torsions of a protein chain, and back: ``(N, CA, C)^L ↔ (φ, ψ, ω)^L``.

With bond lengths and angles fixed at their ideal values, a backbone is determined up to a
rigid motion by its torsions (dihedrals about the N–CA, CA–C and C–N bonds). Generating
torsions on the torus ``T^{2L}`` (``ω`` fixed at 180°, a trans peptide) and building the chain
with :func:`torsions_to_backbone` gives ideal bond lengths, bond angles and CA–CA distances by
construction (NeRF: Parsons et al. 2005).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genmatch.data.frames import CA_C, N_CA, N_CA_C, ideal_local_atoms

#: Ideal peptide geometry (Engh & Huber): bond C–N (Å), angles CA–C–N and C–N–CA.
C_N, CA_C_N, C_N_CA = 1.329, math.radians(116.2), math.radians(121.7)
#: ω of a trans peptide bond.
TRANS = math.pi


def dihedral(p0: Tensor, p1: Tensor, p2: Tensor, p3: Tensor) -> Tensor:
    """Signed dihedral angle of point quadruples, in ``[−π, π]`` (IUPAC sign convention).

    Shapes:
        p0 … p3: ``(..., 3)``; returns ``(...)``.

    Example:
        >>> import math, torch
        >>> p = [torch.tensor(v, dtype=torch.float64) for v in
        ...      ([1.0, 0, 0], [0.0, 0, 0], [0.0, 1, 0], [0.0, 1, 1])]
        >>> round(math.degrees(float(dihedral(*p))), 6)
        -90.0
    """
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1 = b1 / b1.norm(dim=-1, keepdim=True)
    v = b0 - (b0 * b1).sum(-1, keepdim=True) * b1
    w = b2 - (b2 * b1).sum(-1, keepdim=True) * b1
    x = (v * w).sum(-1)
    y = (torch.linalg.cross(b1, v) * w).sum(-1)
    return torch.atan2(y, x)


def backbone_torsions(coords: Tensor) -> Tensor:
    """Per-residue torsions ``(φ_i, ψ_i, ω_i)`` of backbones.

    ``φ_i = dihedral(C_{i−1}, N_i, CA_i, C_i)``, ``ψ_i = dihedral(N_i, CA_i, C_i, N_{i+1})``,
    ``ω_i = dihedral(CA_i, C_i, N_{i+1}, CA_{i+1})`` (the peptide bond to the next residue).
    ``φ_0``, ``ψ_{L−1}`` and ``ω_{L−1}`` need atoms outside the chain: they are set to 0 and
    :func:`torsions_to_backbone` ignores them.

    Shapes:
        coords: ``(..., L, 3, 3)`` positions of N, CA, C; returns ``(..., L, 3)`` radians.

    Raises:
        ValueError: for a wrong shape, or non-finite coordinates.

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 4, 3, dtype=torch.float64)
        >>> t[..., :2] = torch.tensor([-1.0, -0.8])  # a helix
        >>> t[..., 2] = TRANS
        >>> back = backbone_torsions(torsions_to_backbone(t))
        >>> phi, psi = back[0, 1:, 0], back[0, :-1, 1]  # the defined ones
        >>> torch.allclose(phi, t[0, 1:, 0]), torch.allclose(psi, t[0, :-1, 1])
        (True, True)
    """
    if not isinstance(coords, Tensor) or not coords.is_floating_point():
        raise ValueError("coords must be a float tensor (..., L, 3 atoms, 3)")
    if coords.dim() < 3 or coords.shape[-2:] != (3, 3) or coords.shape[-3] < 1:
        raise ValueError(f"coords must be (..., L, 3 atoms, 3), got {tuple(coords.shape)}")
    if not bool(torch.isfinite(coords).all()):
        raise ValueError("coords must be finite")
    n, ca, c = coords.unbind(-2)  # (..., L, 3) each
    phi = dihedral(c[..., :-1, :], n[..., 1:, :], ca[..., 1:, :], c[..., 1:, :])
    psi = dihedral(n[..., :-1, :], ca[..., :-1, :], c[..., :-1, :], n[..., 1:, :])
    omega = dihedral(ca[..., :-1, :], c[..., :-1, :], n[..., 1:, :], ca[..., 1:, :])
    zero = torch.zeros_like(phi[..., :1])
    return torch.stack(
        [torch.cat([zero, phi], -1), torch.cat([psi, zero], -1), torch.cat([omega, zero], -1)],
        -1,
    )


def _place(a: Tensor, b: Tensor, c: Tensor, bond: float, angle: float, torsion: Tensor) -> Tensor:
    """NeRF: the point ``d`` with ``|cd| = bond``, angle ``bcd = angle``, dihedral ``abcd =
    torsion``. Shapes: ``a, b, c`` ``(..., 3)``, torsion ``(...)``; returns ``(..., 3)``."""
    bc = c - b
    bc = bc / bc.norm(dim=-1, keepdim=True)
    n = torch.linalg.cross(b - a, bc)
    n = n / n.norm(dim=-1, keepdim=True)
    m = torch.linalg.cross(n, bc)
    x = -bond * math.cos(angle)
    y = bond * math.sin(angle) * torch.cos(torsion)
    z = bond * math.sin(angle) * torch.sin(torsion)
    return c + x * bc + y[..., None] * m + z[..., None] * n


def torsions_to_backbone(torsions: Tensor) -> Tensor:
    """Backbones with ideal bond lengths and angles from their torsions (NeRF).

    Residue 0 is the ideal residue of :func:`~genmatch.data.ideal_local_atoms` (CA at the
    origin, the identity frame); residue ``i + 1`` is placed from residue ``i``: ``N_{i+1}`` by
    ``ψ_i`` (bond C–N 1.329 Å, angle CA–C–N 116.2°), ``CA_{i+1}`` by ``ω_i`` (N–CA 1.458 Å,
    C–N–CA 121.7°), ``C_{i+1}`` by ``φ_{i+1}`` (CA–C 1.525 Å, N–CA–C 111.2°). With ``ω = 180°``
    consecutive CA atoms are 3.80 Å apart. ``φ_0``, ``ψ_{L−1}`` and ``ω_{L−1}`` are not used.
    For a backbone with ideal geometry ``torsions_to_backbone(backbone_torsions(coords))`` is
    ``coords`` up to a rigid motion.

    Shapes:
        torsions: ``(..., L, 3)`` per-residue ``(φ, ψ, ω)``, or ``(..., L, 2)`` ``(φ, ψ)`` with
        every ``ω`` trans; radians. Returns ``(..., L, 3 atoms, 3)`` in Å, N, CA, C, in the
        dtype of ``torsions``.

    Raises:
        ValueError: for a wrong shape, a non-float or non-finite tensor.
    """
    if not isinstance(torsions, Tensor) or not torsions.is_floating_point():
        raise ValueError("torsions must be a float tensor (..., L, 2 or 3) of radians")
    if torsions.dim() < 2 or torsions.shape[-1] not in (2, 3) or torsions.shape[-2] < 1:
        raise ValueError(
            f"torsions must be (..., L, 3) (φ, ψ, ω) or (..., L, 2) (φ, ψ), got "
            f"{tuple(torsions.shape)}"
        )
    if not bool(torsions.isfinite().all()):
        raise ValueError("torsions must be finite")
    phi, psi = torsions[..., 0], torsions[..., 1]
    omega = torsions[..., 2] if torsions.shape[-1] == 3 else torch.full_like(phi, TRANS)
    local = ideal_local_atoms(torsions.dtype).to(torsions.device)
    n, ca, c = local.expand(*torsions.shape[:-2], 3, 3).unbind(-2)
    atoms = [torch.stack([n, ca, c], -2)]
    for i in range(torsions.shape[-2] - 1):
        n_next = _place(n, ca, c, C_N, CA_C_N, psi[..., i])
        ca_next = _place(ca, c, n_next, N_CA, C_N_CA, omega[..., i])
        c = _place(c, n_next, ca_next, CA_C, N_CA_C, phi[..., i + 1])
        n, ca = n_next, ca_next
        atoms.append(torch.stack([n, ca, c], -2))
    return torch.stack(atoms, -3)
