"""Protein metrics against hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.spatial.transform import Rotation

from genmatch.manifolds import so3_exp
from genmatch.metrics import (
    backbone_dihedrals,
    ca_distances,
    chain_validity,
    clash_rate,
    composition,
    composition_tv,
    dihedral,
    dihedral_mmd,
    glycine_phi,
    kabsch_rmsd,
    sequence_recovery,
)


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_kabsch_rmsd_hand_cases() -> None:
    # a rotated and shifted copy superposes exactly
    x = torch.randn(3, 12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    r = so3_exp(t([0.4, -2.0, 1.0]))
    assert float(kabsch_rmsd(x, x @ r.T + t([1.0, -3.0, 7.0])).max()) < 1e-10
    # two points at ±1 on a line against two at ±2: each off by 1 after the best overlay
    a = t([[[1, 0, 0], [-1, 0, 0]]])
    b = t([[[0, 2, 0], [0, -2, 0]]])
    assert math.isclose(float(kabsch_rmsd(a, b)), 1.0, abs_tol=1e-12)
    # an equilateral triangle against a point: rmsd = circumradius 1/√3
    tri = t([[[0, 0, 0], [1, 0, 0], [0.5, math.sqrt(3) / 2, 0]]])
    assert math.isclose(float(kabsch_rmsd(tri, torch.zeros_like(tri))), 1 / math.sqrt(3))


def test_kabsch_rmsd_uses_proper_rotations_only() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 8, 3, dtype=torch.float64, generator=g)
    mirror = x * t([1.0, 1.0, -1.0])  # a chiral set and its mirror image
    ours = kabsch_rmsd(x, mirror)
    for k in range(4):
        xc = (x[k] - x[k].mean(0)).numpy()
        yc = (mirror[k] - mirror[k].mean(0)).numpy()
        _, rssd = Rotation.align_vectors(yc, xc)
        assert math.isclose(float(ours[k]), rssd / math.sqrt(8), rel_tol=1e-9)
    assert float(ours.min()) > 0.1


def test_chain_validity_hand_chain() -> None:
    ca = t([[[0, 0, 0], [3.8, 0, 0], [7.6, 0, 0], [11.55, 0, 0]]])
    assert torch.allclose(ca_distances(ca), t([[3.8, 3.8, 3.95]]))
    v = chain_validity(ca)
    assert math.isclose(v.mean, 3.85) and math.isclose(v.std, math.sqrt(0.0075))
    assert math.isclose(v.within, 2 / 3) and v.clash_rate == 0.0


def test_clash_rate_counts_only_distant_pairs() -> None:
    # residues 0 and 3 at 2.5 Å: a clash; residues 0 and 2 at 2.5 Å are too close in sequence
    clash = t([[[0, 0, 0], [3.8, 0, 0], [3.8, 3.8, 0], [0, 2.5, 0]]])
    near = t([[[0, 0, 0], [1.9, 3.29, 0], [2.5, 0, 0], [20, 0, 0]]])
    assert float(clash_rate(clash)) == 1.0 and float(clash_rate(near)) == 0.0
    assert float(clash_rate(torch.cat([clash, near]))) == 0.5
    assert float(clash_rate(clash, threshold=2.4)) == 0.0


def test_dihedral_sign_and_backbone_indexing() -> None:
    p0, p1, p2 = t([1, 0, 0]), t([0, 0, 0]), t([0, 1, 0])
    assert math.isclose(float(dihedral(p0, p1, p2, t([1, 1, 0]))), 0.0, abs_tol=1e-12)  # cis
    assert math.isclose(abs(float(dihedral(p0, p1, p2, t([-1, 1, 0])))), math.pi)  # trans
    assert math.isclose(float(dihedral(p0, p1, p2, t([0, 1, -1]))), math.pi / 2)
    # three residues: φ₁ from (C₀, N₁, CA₁, C₁), ψ₁ from (N₁, CA₁, C₁, N₂)
    g = torch.Generator().manual_seed(0)
    coords = torch.randn(2, 3, 3, 3, dtype=torch.float64, generator=g)
    angles = backbone_dihedrals(coords)
    assert angles.shape == (2, 1, 2)
    c = coords
    assert torch.allclose(angles[:, 0, 0], dihedral(c[:, 0, 2], c[:, 1, 0], c[:, 1, 1], c[:, 1, 2]))
    assert torch.allclose(angles[:, 0, 1], dihedral(c[:, 1, 0], c[:, 1, 1], c[:, 1, 2], c[:, 2, 0]))
    # invariant under rigid motions, odd under reflections
    r = so3_exp(t([1.0, 2.0, -0.5]))
    assert torch.allclose(backbone_dihedrals(coords @ r.T + 3.0), angles)
    assert torch.allclose(backbone_dihedrals(-coords), -angles)
    with pytest.raises(ValueError, match="L >= 3"):
        backbone_dihedrals(coords[:, :2])


def test_dihedral_mmd_wraps_and_separates() -> None:
    g = torch.Generator().manual_seed(0)
    a = 0.3 * torch.randn(300, 2, dtype=torch.float64, generator=g) + t([-1.1, -0.7])
    b = 0.3 * torch.randn(300, 2, dtype=torch.float64, generator=g) + t([-1.1, -0.7])
    shifted = a + t([1.0, 2.5])
    same = float(dihedral_mmd(a, b))
    assert abs(same) < 0.02 and float(dihedral_mmd(a, shifted)) > 0.5
    assert math.isclose(float(dihedral_mmd(a + 2 * math.pi, b)), same, abs_tol=1e-9)


def test_composition_tv_and_recovery_hand_cases() -> None:
    a = torch.tensor([[0, 0, 1, 1]])
    b = torch.tensor([[0, 0, 0, 2]])
    assert torch.allclose(composition(a)[:3], t([0.5, 0.5, 0.0]))
    assert math.isclose(composition_tv(a, b), 0.5)
    assert composition_tv(a, a.flip(1)) == 0.0
    assert math.isclose(sequence_recovery(a, b), 0.5)
    with pytest.raises(ValueError, match="outside"):
        composition(a + 19)


def test_glycine_phi_hand_case() -> None:
    g = 5  # glycine
    aatype = torch.tensor([[g, g, 0, 1, 2, 3, 4, g]])
    phi = t([[1.0, 1.2, -1.0, 0.8, -1.0, -1.5, -1.2, -1.0]])
    s = glycine_phi(aatype, phi)
    assert math.isclose(s.glycine_given_positive_phi, 2 / 3)
    assert math.isclose(s.glycine, 3 / 8)
    assert math.isclose(s.positive_phi_given_glycine, 2 / 3)
    assert math.isclose(s.positive_phi_given_other, 1 / 5)
    none = glycine_phi(torch.zeros(1, 3, dtype=torch.long), t([[-1.0, -1.0, -1.0]]))
    assert math.isnan(none.positive_phi_given_glycine) and none.glycine == 0.0
