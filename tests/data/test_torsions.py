"""Backbone torsions and the NeRF chain builder: round trips, ideal geometry, errors."""

import math

import pytest
import torch

from genmatch.data import (
    TRANS,
    backbone_torsions,
    dihedral,
    fragments,
    load_backbones,
    torsions_to_backbone,
)
from genmatch.data.frames import CA_C, N_CA, N_CA_C
from genmatch.data.torsions import C_N, C_N_CA, CA_C_N, _place
from genmatch.manifolds import SO3
from genmatch.metrics import backbone_dihedrals, kabsch_rmsd


def _random_torsions(n: int, length: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = (torch.rand(n, length, 3, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    t[..., 0, 0] = 0.0  # the undefined ones, as backbone_torsions returns them
    t[..., -1, 1:] = 0.0
    return t


def _angle(a, b, c):
    u, v = a - b, c - b
    return torch.acos((u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1)))


def test_place_has_the_bond_angle_and_torsion_asked_for() -> None:
    g = torch.Generator().manual_seed(1)
    a, b, c = torch.randn(3, 50, 3, generator=g, dtype=torch.float64)
    chi = (torch.rand(50, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    d = _place(a, b, c, 1.7, 1.9, chi)
    assert torch.allclose((d - c).norm(dim=-1), torch.full((50,), 1.7, dtype=torch.float64))
    assert torch.allclose(_angle(b, c, d), torch.full((50,), 1.9, dtype=torch.float64))
    assert torch.allclose(dihedral(a, b, c, d), chi)


def test_torsions_round_trip_exactly_on_ideal_chains() -> None:
    t = _random_torsions(6, 12)
    coords = torsions_to_backbone(t)
    assert coords.shape == (6, 12, 3, 3) and coords.dtype == torch.float64
    assert torch.allclose(backbone_torsions(coords), t, atol=1e-10)
    # and a rigid motion of the chain does not change its torsions
    r = SO3().random_uniform_points(
        1, generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )[0]
    moved = coords @ r.T + torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64)
    back = torsions_to_backbone(backbone_torsions(moved))
    assert float(kabsch_rmsd(back.flatten(1, 2), moved.flatten(1, 2)).max()) < 1e-10


def test_built_chains_have_ideal_bonds_angles_and_ca_ca() -> None:
    coords = torsions_to_backbone(_random_torsions(4, 10, seed=3))
    n, ca, c = coords.unbind(-2)

    def close(x, value):
        return torch.allclose(x, torch.full_like(x, value), atol=1e-10)

    assert close((ca - n).norm(dim=-1), N_CA) and close((c - ca).norm(dim=-1), CA_C)
    assert close((n[:, 1:] - c[:, :-1]).norm(dim=-1), C_N)
    assert close(_angle(n, ca, c), N_CA_C)
    assert close(_angle(ca[:, :-1], c[:, :-1], n[:, 1:]), CA_C_N)
    assert close(_angle(c[:, :-1], n[:, 1:], ca[:, 1:]), C_N_CA)
    # residue 0 is the ideal residue at the origin
    from genmatch.data import ideal_local_atoms

    assert torch.equal(coords[:, 0], ideal_local_atoms().expand(4, 3, 3))


def _planar_ca_ca(cis: bool) -> float:
    """CA_i–CA_{i+1} of a planar peptide by hand: C at the origin, N on the x axis, CA_i at
    angle CA–C–N above it, CA_{i+1} at angle C–N–CA, above (cis) or below (trans)."""
    ca_i = (CA_C * math.cos(CA_C_N), CA_C * math.sin(CA_C_N))
    side = 1.0 if cis else -1.0
    ca_j = (C_N - N_CA * math.cos(C_N_CA), side * N_CA * math.sin(C_N_CA))
    return math.dist(ca_i, ca_j)


def test_trans_and_cis_ca_ca_distances() -> None:
    """The CA–CA distance depends on ω only, whatever φ, ψ: 3.804 Å trans, 2.771 Å cis."""
    assert round(_planar_ca_ca(cis=False), 3) == 3.804 and round(_planar_ca_ca(True), 3) == 2.771
    t = _random_torsions(5, 8, seed=4)
    trans = torsions_to_backbone(t[..., :2])  # (φ, ψ): every ω trans
    t3 = t.clone()
    t3[..., :-1, 2] = TRANS
    assert torch.allclose(trans, torsions_to_backbone(t3))
    d = (trans[:, 1:, 1] - trans[:, :-1, 1]).norm(dim=-1)
    assert torch.allclose(d, torch.full_like(d, _planar_ca_ca(cis=False)), atol=1e-10)
    t3[..., :-1, 2] = 0.0
    cis = torsions_to_backbone(t3)
    d = (cis[:, 1:, 1] - cis[:, :-1, 1]).norm(dim=-1)
    assert torch.allclose(d, torch.full_like(d, _planar_ca_ca(cis=True)), atol=1e-10)


def test_real_backbones_agree_with_dihedrals_and_rebuild_closely() -> None:
    _, coords = fragments(load_backbones().segments[:20], 16)
    t = backbone_torsions(coords)
    d = backbone_dihedrals(coords)
    assert torch.equal(t[:, 1:-1, :2], d)
    # ω of real peptides is near 180°; the rebuild with ideal bonds and angles drifts a little
    omega = t[:, :-1, 2]
    assert float((omega.abs() > math.radians(150)).double().mean()) > 0.99
    rmsd = kabsch_rmsd(torsions_to_backbone(t)[:, :, 1], coords[:, :, 1])
    assert float(rmsd.mean()) < 0.8 and float(rmsd.median()) < 0.6


def test_float32_in_float32_out() -> None:
    t = _random_torsions(2, 5).float()
    out = torsions_to_backbone(t)
    assert out.dtype == torch.float32
    assert torch.allclose(out.double(), torsions_to_backbone(t.double()), atol=1e-4)
    assert torsions_to_backbone(t[0, :1]).shape == (1, 3, 3)


@pytest.mark.parametrize(
    ("torsions", "match"),
    [
        (torch.zeros(4, 4), r"\(\.\.\., L, 3\)"),
        (torch.zeros(4, 0, 2), r"\(\.\.\., L, 3\)"),
        (torch.zeros(4, 3, dtype=torch.long), "float tensor"),
        (torch.tensor([[0.0, float("nan")]]), "finite"),
        ([[0.0, 1.0]], "float tensor"),
    ],
)
def test_torsions_to_backbone_rejects(torsions, match) -> None:
    with pytest.raises(ValueError, match=match):
        torsions_to_backbone(torsions)


@pytest.mark.parametrize(
    ("coords", "match"),
    [
        (torch.zeros(4, 3, 4), r"\(\.\.\., L, 3 atoms, 3\)"),
        (torch.zeros(3, 3), r"\(\.\.\., L, 3 atoms, 3\)"),
        (torch.zeros(2, 3, 3, dtype=torch.long), "float tensor"),
        (torch.full((2, 3, 3), float("inf")), "finite"),
    ],
)
def test_backbone_torsions_rejects(coords, match) -> None:
    with pytest.raises(ValueError, match=match):
        backbone_torsions(coords)
