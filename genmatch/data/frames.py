"""Residue frames of a protein backbone, and back: ``(N, CA, C) ↔ (R, x) ∈ SO(3) × R³``."""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: Ideal backbone geometry (Engh & Huber): bond lengths N–CA and CA–C (Å), angle N–CA–C.
N_CA, CA_C, N_CA_C = 1.458, 1.525, math.radians(111.2)


def ideal_local_atoms(dtype: torch.dtype = torch.float64) -> Tensor:
    """N, CA, C of an ideal residue in its own frame, ``(3, 3)`` (rows N, CA, C).

    The frame of :func:`backbone_frames`: CA at the origin, C on the ``+x`` axis, N in the
    ``xy`` half-plane ``y > 0``.
    """
    n = [N_CA * math.cos(N_CA_C), N_CA * math.sin(N_CA_C), 0.0]
    return torch.tensor([n, [0.0, 0.0, 0.0], [CA_C, 0.0, 0.0]], dtype=dtype)


def backbone_frames(coords: Tensor) -> tuple[Tensor, Tensor]:
    """Gram–Schmidt frames of residues: ``R = [e₁ e₂ e₃]``, ``x = CA``.

    ``e₁ = (C − CA)/|C − CA|``, ``e₂`` the unit part of ``N − CA`` orthogonal to ``e₁``,
    ``e₃ = e₁ × e₂``; so ``R ∈ SO(3)`` and ``Rᵀ(C − CA)``, ``Rᵀ(N − CA)`` lie in the frame's
    ``xy`` plane as in :func:`ideal_local_atoms`.

    Shapes:
        coords: ``(..., 3, 3)`` positions of N, CA, C (atom axis second to last); returns
        rotations ``(..., 3, 3)`` (columns ``e₁, e₂, e₃``) and translations ``(..., 3)``.

    Raises:
        ValueError: for a wrong shape, or a residue whose N, CA, C are collinear.
    """
    if coords.dim() < 2 or coords.shape[-2:] != (3, 3):
        raise ValueError(f"coords must be (..., 3 atoms, 3), got {tuple(coords.shape)}")
    n, ca, c = coords.unbind(-2)
    u, v = c - ca, n - ca
    e1 = u / u.norm(dim=-1, keepdim=True)
    w = v - (v * e1).sum(-1, keepdim=True) * e1
    norm = w.norm(dim=-1, keepdim=True)
    if coords.numel() and bool((norm < 1e-6 * v.norm(dim=-1, keepdim=True)).any()):
        raise ValueError("a residue has collinear N, CA, C: its frame is undefined")
    e2 = w / norm
    e3 = torch.linalg.cross(e1, e2)
    return torch.stack([e1, e2, e3], -1), ca


def frames_to_backbone(rotations: Tensor, translations: Tensor) -> Tensor:
    """Ideal N, CA, C of frames: ``atom = R a + x`` for ``a`` in :func:`ideal_local_atoms`.

    CA is exactly the translation; N and C are where an ideal residue puts them, so for a
    backbone with ideal bond lengths and angle N–CA–C, ``frames_to_backbone(*backbone_frames(
    coords))`` is ``coords``.

    Shapes:
        rotations: ``(..., 3, 3)``; translations: ``(..., 3)``; returns ``(..., 3, 3)``.

    Example:
        >>> import torch
        >>> coords = frames_to_backbone(torch.eye(3)[None].double(), torch.zeros(1, 3).double())
        >>> r, x = backbone_frames(coords)
        >>> torch.allclose(r, torch.eye(3).double()), torch.equal(coords[:, 1], x)
        (True, True)
    """
    if rotations.shape[-2:] != (3, 3) or rotations.shape[:-2] != translations.shape[:-1]:
        raise ValueError(
            f"rotations must be (..., 3, 3) and translations (..., 3) with the same leading "
            f"shape, got {tuple(rotations.shape)} and {tuple(translations.shape)}"
        )
    local = ideal_local_atoms(rotations.dtype).to(rotations.device)  # (3 atoms, 3)
    return torch.einsum("...ij,aj->...ai", rotations, local) + translations[..., None, :]


def canonical_frames(
    coords: Tensor, *, scale: float = 1.0, anchor: int | None = None
) -> tuple[Tensor, Tensor]:
    """Frames of fragments in a canonical pose: centred, and oriented by one residue.

    With ``R_i, x_i`` from :func:`backbone_frames` and ``x̄`` the mean CA of the fragment,
    the pose ``(R_a, x̄)`` of the anchor residue ``a`` is removed::

        R'_i = R_aᵀ R_i,      x'_i = scale · R_aᵀ (x_i − x̄)

    so the anchor's rotation is the identity and CA positions are centred (a rigid motion:
    every internal geometry, distance and dihedral is kept). ``anchor=None`` centres only.

    Shapes:
        coords: ``(n, L, 3, 3)``; returns rotations ``(n, L, 3, 3)``, translations ``(n, L, 3)``.
    """
    if coords.dim() != 4 or coords.shape[-2:] != (3, 3):
        raise ValueError(f"coords must be (n, L, 3, 3), got {tuple(coords.shape)}")
    r, x = backbone_frames(coords)
    x = x - x.mean(1, keepdim=True)
    if anchor is not None:
        if not -coords.shape[1] <= anchor < coords.shape[1]:
            raise ValueError(f"anchor {anchor} is not a residue of fragments of {coords.shape[1]}")
        r_a = r[:, anchor].transpose(-1, -2)[:, None]  # (n, 1, 3, 3)
        r = r_a @ r
        x = (r_a @ x[..., None]).squeeze(-1)
    return r, scale * x
