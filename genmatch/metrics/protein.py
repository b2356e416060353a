"""Quality metrics of protein backbones and sequences: superposition RMSD, chain validity,
backbone dihedrals, composition and the glycine–φ association."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.data.structures import AMINO_ACIDS, GLYCINE
from genmatch.data.torsions import dihedral
from genmatch.manifolds.torus import FlatTorus
from genmatch.metrics.manifold import geodesic_mmd
from genmatch.spaces.manifold import ManifoldSpace

#: CA–CA distance (Å) of consecutive residues joined by a trans peptide bond.
CA_CA_IDEAL = 3.80
NUM_AMINO_ACIDS = len(AMINO_ACIDS)


def _check_points(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() != 3 or x.shape[-1] != 3:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a (n, L, 3) float tensor of positions, got {got}")


def _check_tokens(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or x.dtype != torch.int64 or x.dim() != 2:
        raise ValueError(f"{name} must be a (n, L) int64 tensor of amino-acid tokens")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= NUM_AMINO_ACIDS):
        raise ValueError(f"{name} has tokens outside [0, {NUM_AMINO_ACIDS})")


def kabsch_rmsd(x: Tensor, y: Tensor) -> Tensor:
    """RMSD after optimal rigid superposition, ``min_{R ∈ SO(3), t} (Σ_i |R x_i + t − y_i|²/L)^½``.

    Kabsch: centre both point sets, ``H = Σ_i x̃_i ỹ_iᵀ = U S Vᵀ``, ``R = V diag(1, 1, d) Uᵀ``
    with ``d = sign det(V Uᵀ)`` (a proper rotation, no reflection).

    Shapes:
        x, y: ``(n, L, 3)``; returns ``(n,)``.

    Example:
        >>> import torch
        >>> from genmatch.manifolds import so3_exp
        >>> x = torch.randn(2, 10, 3, dtype=torch.float64)
        >>> y = x @ so3_exp(torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)).T + 5.0
        >>> bool(kabsch_rmsd(x, y).max() < 1e-10)
        True
    """
    _check_points(x, "x")
    _check_points(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    xc = x - x.mean(1, keepdim=True)
    yc = y - y.mean(1, keepdim=True)
    h = xc.transpose(1, 2) @ yc  # (n, 3, 3)
    u, _, vh = torch.linalg.svd(h)
    d = torch.sign(torch.det(vh.transpose(1, 2) @ u.transpose(1, 2)))
    fix = torch.ones(x.shape[0], 3, dtype=x.dtype, device=x.device)
    fix[:, 2] = d
    r = vh.transpose(1, 2) @ (fix[:, :, None] * u.transpose(1, 2))  # (n, 3, 3)
    diff = xc @ r.transpose(1, 2) - yc
    return diff.pow(2).sum(-1).mean(1).sqrt()


def ca_distances(ca: Tensor) -> Tensor:
    """``|CA_{i+1} − CA_i|``: ``(n, L, 3) → (n, L − 1)``."""
    _check_points(ca, "ca")
    return (ca[:, 1:] - ca[:, :-1]).norm(dim=-1)


@final
@dataclass(frozen=True)
class ChainValidity:
    """Consecutive CA–CA distances and clashes of a batch of chains.

    Attributes:
        mean: mean CA–CA distance (Å).
        std: its standard deviation (Å).
        within: fraction of distances within ``tolerance`` of :data:`CA_CA_IDEAL`.
        clash_rate: fraction of chains with a clash (:func:`clash_rate`).
    """

    mean: float
    std: float
    within: float
    clash_rate: float


def clash_rate(ca: Tensor, *, threshold: float = 3.0, min_separation: int = 3) -> Tensor:
    """Fraction of chains with two CA atoms at least ``min_separation`` apart in sequence and
    closer than ``threshold`` Å (real backbones: none; the closest such pairs, in tight turns,
    are about 4 Å apart).

    Shapes:
        ca: ``(n, L, 3)``; returns a scalar.
    """
    _check_points(ca, "ca")
    d = torch.cdist(ca, ca)
    idx = torch.arange(ca.shape[1], device=ca.device)
    far = (idx[:, None] - idx[None, :]).abs() >= min_separation
    return ((d < threshold) & far).flatten(1).any(1).to(ca.dtype).mean()


def chain_validity(ca: Tensor, *, tolerance: float = 0.1) -> ChainValidity:
    """:class:`ChainValidity` of CA traces ``(n, L, 3)``, ``n >= 1``, ``L >= 2``."""
    d = ca_distances(ca)
    if d.numel() == 0:
        raise ValueError(f"ca needs at least one chain of 2 residues, got {tuple(ca.shape)}")
    return ChainValidity(
        mean=float(d.mean()),
        std=float(d.std()) if d.numel() > 1 else 0.0,
        within=float(((d - CA_CA_IDEAL).abs() <= tolerance).double().mean()),
        clash_rate=float(clash_rate(ca)),
    )


def backbone_dihedrals(coords: Tensor) -> Tensor:
    """``(φ_i, ψ_i)`` of the inner residues ``i = 1 … L − 2`` of backbones.

    ``φ_i = dihedral(C_{i−1}, N_i, CA_i, C_i)``, ``ψ_i = dihedral(N_i, CA_i, C_i, N_{i+1})``.

    Shapes:
        coords: ``(n, L, 3, 3)`` positions of N, CA, C; returns ``(n, L − 2, 2)`` radians.
    """
    if coords.dim() != 4 or coords.shape[-2:] != (3, 3) or coords.shape[1] < 3:
        raise ValueError(f"coords must be (n, L >= 3, 3, 3), got {tuple(coords.shape)}")
    n, ca, c = coords.unbind(-2)
    phi = dihedral(c[:, :-2], n[:, 1:-1], ca[:, 1:-1], c[:, 1:-1])
    psi = dihedral(n[:, 1:-1], ca[:, 1:-1], c[:, 1:-1], n[:, 2:])
    return torch.stack([phi, psi], -1)


def dihedral_mmd(x: Tensor, y: Tensor) -> Tensor:
    """:func:`~genmatch.metrics.geodesic_mmd` on the torus ``T²`` of ``(φ, ψ)`` pairs.

    Shapes:
        x: ``(n, 2)``, y: ``(m, 2)`` radians (wrapped to ``[−π, π)`` here); returns a scalar.
    """
    torus = FlatTorus(2)
    space = ManifoldSpace(torus, (2,))
    return geodesic_mmd(space, torus.projx(x), torus.projx(y))


def composition(aatype: Tensor) -> Tensor:
    """Amino-acid frequencies of all positions: ``(n, L) → (20,)``."""
    _check_tokens(aatype, "aatype")
    counts = torch.bincount(aatype.flatten(), minlength=NUM_AMINO_ACIDS).double()
    return counts / counts.sum().clamp_min(1)


def composition_tv(a: Tensor, b: Tensor) -> float:
    """Total variation ``½ Σ_k |p_k − q_k|`` between the compositions of two token batches."""
    return float(0.5 * (composition(a) - composition(b)).abs().sum())


def sequence_recovery(predicted: Tensor, reference: Tensor) -> float:
    """Fraction of positions where ``predicted`` equals ``reference`` (both ``(n, L)``)."""
    _check_tokens(predicted, "predicted")
    _check_tokens(reference, "reference")
    if predicted.shape != reference.shape:
        raise ValueError("predicted and reference must have one shape")
    return float((predicted == reference).double().mean())


@final
@dataclass(frozen=True)
class GlycinePhi:
    """How strongly glycine goes with positive φ (glycine, having no side chain, is the one
    residue common in the left half of the Ramachandran plot).

    Attributes:
        glycine_given_positive_phi: ``P(Gly | φ > 0)``.
        glycine: ``P(Gly)`` over the same residues.
        positive_phi_given_glycine: ``P(φ > 0 | Gly)`` (``nan`` without glycine).
        positive_phi_given_other: ``P(φ > 0 | not Gly)``.
    """

    glycine_given_positive_phi: float
    glycine: float
    positive_phi_given_glycine: float
    positive_phi_given_other: float


def glycine_phi(aatype: Tensor, phi: Tensor) -> GlycinePhi:
    """:class:`GlycinePhi` of residues with tokens ``aatype`` and angles ``phi`` (one shape)."""
    if aatype.shape != phi.shape:
        raise ValueError(f"aatype and phi must have one shape, got {aatype.shape}, {phi.shape}")
    gly = (aatype == GLYCINE).flatten()
    pos = (phi > 0).flatten()

    def frac(num: Tensor, den: Tensor) -> float:
        n = int(den.sum())
        return float((num & den).sum()) / n if n else float("nan")

    return GlycinePhi(
        glycine_given_positive_phi=frac(gly, pos),
        glycine=float(gly.double().mean()),
        positive_phi_given_glycine=frac(pos, gly),
        positive_phi_given_other=frac(pos, ~gly),
    )
