"""The structure loader: parsing, segment cuts, frames round trips, the PDB writer."""

from __future__ import annotations

import gzip
import math

import gemmi
import pytest
import torch

from genmatch.data import (
    AMINO_ACIDS,
    backbone_frames,
    canonical_frames,
    fragments,
    frames_to_backbone,
    ideal_local_atoms,
    load_backbones,
    read_backbones,
    structure_files,
    write_pdb,
)
from genmatch.data.structures import Backbone
from genmatch.manifolds import so3_exp


def shipped(name: str):
    return next(p for p in structure_files() if p.name == name)


@pytest.fixture(scope="module")
def adk() -> Backbone:
    (segment,) = read_backbones(shipped("adk_closed.pdb"))
    return segment


def test_shipped_file_parses_to_one_bonded_segment(adk) -> None:
    assert len(adk) == 214 and adk.sequence.startswith("MRIILLGAPGAGKGTQ")
    assert adk.coords.shape == (214, 3, 3) and adk.coords.dtype == torch.float64
    ca = adk.coords[:, 1]
    d = (ca[1:] - ca[:-1]).norm(dim=1)
    assert float(d.min()) > 2.8 and float(d.max()) < 4.2  # cut at breaks, cis peptides kept
    bonds = (adk.coords[:, 2] - adk.coords[:, 1]).norm(dim=1)
    assert float((bonds - 1.52).abs().max()) < 0.1


def test_real_coordinates_frames_coordinates_round_trip_ca(adk) -> None:
    r, x = backbone_frames(adk.coords)
    eye = torch.eye(3, dtype=torch.float64)
    assert float((r.transpose(-1, -2) @ r - eye).abs().max()) < 1e-12
    assert float((torch.linalg.det(r) - 1).abs().max()) < 1e-12
    back = frames_to_backbone(r, x)
    assert float((back[:, 1] - adk.coords[:, 1]).norm(dim=-1).max()) < 1e-4
    # N and C are put at ideal positions: within real deviations from ideality (≤ 0.2 Å here)
    assert float((back - adk.coords).norm(dim=-1).max()) < 0.2
    # frames of the rebuilt backbone are the input frames (C on e₁, N in the e₁e₂ plane)
    r2, x2 = backbone_frames(back)
    assert float((r2 - r).abs().max()) < 1e-10 and float((x2 - x).abs().max()) < 1e-10


def test_ideal_backbone_round_trips_every_atom() -> None:
    g = torch.Generator().manual_seed(0)
    r = so3_exp(3 * torch.randn(50, 3, generator=g, dtype=torch.float64))
    x = 20 * torch.randn(50, 3, generator=g, dtype=torch.float64)
    coords = frames_to_backbone(r, x)
    a = ideal_local_atoms()
    assert math.isclose(float(a[0].norm()), 1.458) and math.isclose(float(a[2].norm()), 1.525)
    cos = float(a[0] @ a[2] / (a[0].norm() * a[2].norm()))
    assert math.isclose(math.degrees(math.acos(cos)), 111.2)
    r2, x2 = backbone_frames(coords)
    assert float((r2 - r).abs().max()) < 1e-10
    assert float((frames_to_backbone(r2, x2) - coords).norm(dim=-1).max()) < 1e-4


def test_canonical_frames_is_a_rigid_motion_to_the_anchor(adk) -> None:
    _, coords = fragments([adk], 16)
    r, x = canonical_frames(coords, scale=0.1, anchor=8)
    eye = torch.eye(3, dtype=torch.float64)
    assert float((r[:, 8] - eye).abs().max()) < 1e-12
    assert float(x.mean(1).abs().max()) < 1e-12
    ca = coords[:, :, 1]
    assert torch.allclose(torch.cdist(10 * x, 10 * x), torch.cdist(ca, ca), atol=1e-10)
    # relative rotations between residues are kept
    r0, _ = backbone_frames(coords)
    rel = r0[:, :1].transpose(-1, -2) @ r0
    assert torch.allclose(r[:, :1].transpose(-1, -2) @ r, rel, atol=1e-12)
    with pytest.raises(ValueError, match="anchor 16"):
        canonical_frames(coords, anchor=16)


def test_fragments_windows_and_stride(adk) -> None:
    aa, xyz = fragments([adk], 16)
    assert aa.shape == (13, 16) and xyz.shape == (13, 16, 3, 3)
    assert torch.equal(aa[1], adk.aatype[16:32]) and torch.equal(xyz[2], adk.coords[32:48])
    aa, _ = fragments([adk], 16, stride=4)
    assert aa.shape[0] == (214 - 16) // 4 + 1
    assert fragments([adk], 300)[0].shape == (0, 300)


def test_pdb_writer_reads_back(adk, tmp_path) -> None:
    aa, xyz = fragments([adk], 16)
    path = tmp_path / "out.pdb"
    write_pdb(path, aa[:3], xyz[:3])
    structure = gemmi.read_structure(str(path))
    assert len(structure) == 3
    assert gemmi.one_letter_code([r.name for r in structure[1][0]]) == "".join(
        AMINO_ACIDS[int(i)] for i in aa[1]
    )
    (segment,) = read_backbones(path)  # the first model
    assert torch.equal(segment.aatype, aa[0])
    assert float((segment.coords - xyz[0]).abs().max()) <= 5e-4  # 3 decimals in PDB


def test_pdb_writer_refuses_bad_input(tmp_path) -> None:
    aa = torch.zeros(1, 4, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"coords \(n, L, 3, 3\)"):
        write_pdb(tmp_path / "a.pdb", aa, torch.zeros(1, 5, 3, 3))
    with pytest.raises(ValueError, match=r"aatype must be in \[0, 20\)"):
        write_pdb(tmp_path / "a.pdb", aa + 20, torch.zeros(1, 4, 3, 3))
    with pytest.raises(ValueError, match="finite"):
        write_pdb(tmp_path / "a.pdb", aa, torch.full((1, 4, 3, 3), float("nan")))


def test_chains_are_cut_at_nonstandard_and_incomplete_residues(adk, tmp_path) -> None:
    aa, xyz = fragments([adk], 12)
    path = tmp_path / "one.pdb"
    write_pdb(path, aa[:1], xyz[:1])
    lines = path.read_text().splitlines()
    edited = []
    for line in lines:
        if line.startswith("ATOM") and int(line[22:26]) == 4:
            line = line[:17] + "MSE" + line[20:]  # selenomethionine: not one of the 20
        if line.startswith("ATOM") and int(line[22:26]) == 8 and line[12:16].strip() == "C":
            continue  # residue 8 loses its C
        edited.append(line)
    path.write_text("\n".join(edited) + "\n")
    segments = read_backbones(path)
    assert [len(s) for s in segments] == [3, 3, 4]
    assert [s.name.rsplit(":", 1)[1] for s in segments] == ["1", "5", "9"]
    assert [len(s) for s in read_backbones(path, min_length=4)] == [4]


def test_bad_files_give_clear_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no structure file"):
        read_backbones(tmp_path / "missing.pdb")
    text = tmp_path / "text.pdb"
    text.write_text("hello\n")
    with pytest.raises(ValueError, match="no protein backbone segment"):
        read_backbones(text)
    broken = tmp_path / "broken.pdb.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="not a readable PDB file"):
        read_backbones(broken)
    truncated = tmp_path / "truncated.pdb.gz"
    truncated.write_bytes(gzip.compress(b"ATOM      1  N   ALA A   1" * 40)[:30])
    with pytest.raises(ValueError, match="not a readable PDB file"):
        read_backbones(truncated)
    with pytest.raises(ValueError, match="min_length"):
        read_backbones(text, min_length=0)


def test_load_backbones_skips_and_deduplicates(adk, tmp_path) -> None:
    aa, xyz = fragments([adk], 10)
    write_pdb(tmp_path / "a.pdb", aa[:1], xyz[:1])
    write_pdb(tmp_path / "b.pdb", aa[:1], xyz[:1] + 1.0)  # the same sequence again
    (tmp_path / "c.pdb").write_text("junk\n")
    found = load_backbones(sorted(tmp_path.glob("*.pdb")))
    assert [p.name for p in found.files] == ["a.pdb", "b.pdb"]
    assert [p.name for p, _ in found.skipped] == ["c.pdb"]
    assert found.duplicates == 1 and found.num_residues == 10


def test_frames_refuse_collinear_atoms() -> None:
    line = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0]]])
    with pytest.raises(ValueError, match="collinear"):
        backbone_frames(line)
    with pytest.raises(ValueError, match="same leading shape"):
        frames_to_backbone(torch.eye(3).expand(2, 3, 3), torch.zeros(3, 3))
