"""Protein backbones from PDB files: parsing (gemmi), fixed-length fragments, a PDB writer.

gemmi is an optional dependency (the ``examples`` extra, with the structures shipped in
``mdanalysistests``); it is imported when a file is read or written.
"""

from __future__ import annotations

import bz2
import gzip
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, final

import torch
from torch import Tensor

from genmatch._checks import check_positive_int

#: The 20 standard amino acids, one letter each; a residue's token is its index here.
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: Three-letter names in the order of :data:`AMINO_ACIDS`.
THREE_LETTER = (
    "ALA", "CYS", "ASP", "GLU", "PHE", "GLY", "HIS", "ILE", "LYS", "LEU",
    "MET", "ASN", "PRO", "GLN", "ARG", "SER", "THR", "VAL", "TRP", "TYR",
)  # fmt: skip
#: Protonation-state names of force fields (CHARMM, AMBER, OPLS) for standard residues.
_ALIASES = {
    "HSD": "HIS", "HSE": "HIS", "HSP": "HIS", "HID": "HIS", "HIE": "HIS", "HIP": "HIS",
    "CYX": "CYS", "CYM": "CYS", "ASH": "ASP", "GLH": "GLU", "LYN": "LYS",
}  # fmt: skip
_TOKEN = {name: i for i, name in enumerate(THREE_LETTER)} | {
    alias: THREE_LETTER.index(name) for alias, name in _ALIASES.items()
}
#: Backbone atoms per residue, in the order of the coordinates' atom axis.
BACKBONE_ATOMS = ("N", "CA", "C")
#: Largest C_i–N_{i+1} distance (Å) still counted as a peptide bond.
PEPTIDE_BOND_MAX = 2.0
#: Largest CA_i–CA_{i+1} distance (Å) of bonded residues (trans peptides have 3.80 Å).
CA_CA_MAX = 4.2
#: Range (Å) of the N–CA and CA–C bond lengths of a residue that is kept (ideal ~1.46, 1.52).
BOND_RANGE = (1.3, 1.7)
#: File name endings read by :func:`structure_files`.
PDB_SUFFIXES = (".pdb", ".pdb.gz", ".pdb.bz2", ".ent", ".ent.gz")
GLYCINE = AMINO_ACIDS.index("G")


@final
@dataclass(frozen=True)
class Backbone:
    """One contiguous backbone segment: standard residues joined by peptide bonds.

    Attributes:
        name: ``"file:chain:first residue number"``.
        aatype: ``(L,)`` int64 tokens in ``[0, 20)`` (indices into :data:`AMINO_ACIDS`).
        coords: ``(L, 3, 3)`` float64 positions (Å) of the atoms N, CA, C of each residue.
    """

    name: str
    aatype: Tensor
    coords: Tensor

    @property
    def sequence(self) -> str:
        """The one-letter sequence."""
        return "".join(AMINO_ACIDS[int(i)] for i in self.aatype)

    def __len__(self) -> int:
        return int(self.aatype.shape[0])


def _read_text(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".bz2"):
        return bz2.open(path, "rt").read()
    if name.endswith(".gz"):
        return gzip.open(path, "rt").read()
    return path.read_text()


def _parse(path: Path) -> Any:
    import gemmi

    if not path.is_file():
        raise FileNotFoundError(f"no structure file at {path}")
    try:
        text = _read_text(path)
        return gemmi.read_pdb_string(text)
    except (OSError, EOFError, UnicodeDecodeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path}: not a readable PDB file ({type(e).__name__}: {e})") from e


def read_backbones(path: str | Path, *, min_length: int = 2) -> list[Backbone]:
    """The contiguous backbone segments of every chain of the first model of a PDB file.

    A chain is cut at every residue that is not one of the 20 standard amino acids (or a
    force-field protonation name of one, e.g. ``HSD``), that lacks one of N, CA, C (first
    alternative location), whose N–CA or CA–C bond is outside :data:`BOND_RANGE` (distorted
    models), or that is not bonded to its predecessor (``|C_{i−1} N_i| >``
    :data:`PEPTIDE_BOND_MAX` or ``|CA_{i−1} CA_i| >`` :data:`CA_CA_MAX`); segments shorter than
    ``min_length`` are dropped.

    Args:
        path: a ``.pdb``/``.ent`` file, optionally ``.gz`` or ``.bz2`` compressed.
        min_length: shortest segment kept.

    Returns:
        the segments in file order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be read as PDB, or has no segment of ``min_length``.

    Example:
        >>> import tempfile
        >>> f = tempfile.NamedTemporaryFile("w", suffix=".pdb", delete=False)
        >>> _ = f.write("not a structure\\n"); f.close()
        >>> read_backbones(f.name)
        Traceback (most recent call last):
        ...
        ValueError: ...: no protein backbone segment of at least 2 standard residues ...
    """
    min_length = check_positive_int(min_length, "min_length")
    path = Path(path)
    structure = _parse(path)
    segments: list[Backbone] = []
    if len(structure) > 0:
        for chain in structure[0]:
            segments.extend(_chain_segments(path.name, chain, min_length))
    if not segments:
        raise ValueError(
            f"{path}: no protein backbone segment of at least {min_length} standard residues "
            f"with atoms {', '.join(BACKBONE_ATOMS)} (models: {len(structure)})"
        )
    return segments


def _chain_segments(file: str, chain: Any, min_length: int) -> list[Backbone]:
    out: list[Backbone] = []
    tokens: list[int] = []
    xyz: list[list[list[float]]] = []
    start = ""

    def close() -> None:
        if len(tokens) >= min_length:
            out.append(
                Backbone(
                    f"{file}:{chain.name}:{start}",
                    torch.tensor(tokens, dtype=torch.int64),
                    torch.tensor(xyz, dtype=torch.float64),
                )
            )
        tokens.clear()
        xyz.clear()

    low, high = BOND_RANGE
    for res in chain:
        token = _TOKEN.get(res.name)
        atoms = [res.find_atom(a, "*") for a in BACKBONE_ATOMS]
        if token is None or any(a is None for a in atoms):
            close()
            continue
        pos = [[a.pos.x, a.pos.y, a.pos.z] for a in atoms]
        if not (low < _dist(pos[0], pos[1]) < high and low < _dist(pos[1], pos[2]) < high):
            close()
            continue
        if xyz and (
            _dist(xyz[-1][2], pos[0]) > PEPTIDE_BOND_MAX or _dist(xyz[-1][1], pos[1]) > CA_CA_MAX
        ):
            close()
        if not tokens:
            start = str(res.seqid.num)
        tokens.append(token)
        xyz.append(pos)
    close()
    return out


def _dist(p: list[float], q: list[float]) -> float:
    return float(sum((a - b) ** 2 for a, b in zip(p, q, strict=True)) ** 0.5)


def structure_files(root: str | Path | None = None) -> list[Path]:
    """The PDB files under ``root`` (by default the data directory of ``mdanalysistests``),
    sorted by name, with endings in :data:`PDB_SUFFIXES`."""
    if root is None:
        try:
            import MDAnalysisTests
        except ImportError as e:
            raise ImportError(
                "the shipped structures need mdanalysistests (pip install 'genmatch[examples]')"
            ) from e
        root = Path(MDAnalysisTests.__file__).parent / "data"
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no directory {root}")
    files = [p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(PDB_SUFFIXES)]
    return sorted(files, key=lambda p: p.name)


@final
@dataclass(frozen=True)
class BackboneSet:
    """The segments read from many files, duplicates removed.

    Attributes:
        segments: unique segments (the first of each distinct sequence), in file order.
        files: files that gave at least one segment.
        skipped: ``(file, reason)`` for files that gave none (unreadable, no protein).
        duplicates: segments dropped because an earlier one has the same sequence.
    """

    segments: list[Backbone]
    files: list[Path]
    skipped: list[tuple[Path, str]]
    duplicates: int

    @property
    def num_residues(self) -> int:
        """Residues in :attr:`segments`."""
        return sum(len(s) for s in self.segments)


def load_backbones(
    files: Iterable[str | Path] | None = None, *, min_length: int = 2
) -> BackboneSet:
    """Read every file (by default :func:`structure_files`), keeping what parses.

    Files that raise ``ValueError`` in :func:`read_backbones` are recorded in
    :attr:`BackboneSet.skipped`; a segment whose sequence equals an earlier one's (the same
    protein in another file, a homo-oligomer's second chain) is dropped, so that no sequence is
    in both a training and a held-out split.
    """
    paths = structure_files() if files is None else [Path(f) for f in files]
    segments: list[Backbone] = []
    kept: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[str] = set()
    duplicates = 0
    for path in paths:
        try:
            found = read_backbones(path, min_length=min_length)
        except ValueError as e:
            skipped.append((path, str(e)))
            continue
        kept.append(path)
        for seg in found:
            if seg.sequence in seen:
                duplicates += 1
                continue
            seen.add(seg.sequence)
            segments.append(seg)
    return BackboneSet(segments, kept, skipped, duplicates)


def fragments(
    segments: Sequence[Backbone], length: int, *, stride: int | None = None
) -> tuple[Tensor, Tensor]:
    """Cut segments into windows of ``length`` consecutive residues.

    Args:
        segments: backbone segments (shorter ones give no window).
        length: residues per fragment.
        stride: offset between windows of a segment (default ``length``: no overlap).

    Returns:
        ``aatype (n, length)`` int64 and ``coords (n, length, 3, 3)`` float64.
    """
    length = check_positive_int(length, "length")
    stride = length if stride is None else check_positive_int(stride, "stride")
    aa, xyz = [], []
    for seg in segments:
        for i in range(0, len(seg) - length + 1, stride):
            aa.append(seg.aatype[i : i + length])
            xyz.append(seg.coords[i : i + length])
    if not aa:
        return torch.empty(0, length, dtype=torch.int64), torch.empty(0, length, 3, 3).double()
    return torch.stack(aa), torch.stack(xyz)


def write_pdb(path: str | Path, aatype: Tensor, coords: Tensor) -> None:
    """Write backbones as a PDB file, one model per backbone (chain ``A``, residues from 1).

    Args:
        path: the output file.
        aatype: ``(n, L)`` int64 tokens in ``[0, 20)``.
        coords: ``(n, L, 3, 3)`` positions (Å) of N, CA, C.

    Raises:
        ValueError: for shapes or tokens out of range, or non-finite or out-of-format
            coordinates (a PDB column holds ``|x| < 10⁴`` Å).
    """
    import gemmi

    if aatype.dim() != 2 or coords.shape != (*aatype.shape, 3, 3):
        raise ValueError(
            f"aatype must be (n, L) and coords (n, L, 3, 3), got {tuple(aatype.shape)} and "
            f"{tuple(coords.shape)}"
        )
    if aatype.numel() and (int(aatype.min()) < 0 or int(aatype.max()) >= len(AMINO_ACIDS)):
        raise ValueError(f"aatype must be in [0, {len(AMINO_ACIDS)})")
    if not bool(torch.isfinite(coords).all()) or float(coords.abs().max()) >= 1e4:
        raise ValueError("coords must be finite with |x| < 1e4 Å to fit the PDB format")
    structure = gemmi.Structure()
    xyz = coords.detach().double().cpu().tolist()
    for k, (seq, model_xyz) in enumerate(zip(aatype.tolist(), xyz, strict=True)):
        model = gemmi.Model(str(k + 1))  # type: ignore[arg-type]  # a str before gemmi 0.7
        chain = gemmi.Chain("A")
        for i, (token, atoms) in enumerate(zip(seq, model_xyz, strict=True)):
            res = gemmi.Residue()
            res.name = THREE_LETTER[token]
            res.seqid = gemmi.SeqId(i + 1, " ")
            res.entity_type = gemmi.EntityType.Polymer
            for name, pos in zip(BACKBONE_ATOMS, atoms, strict=True):
                atom = gemmi.Atom()
                atom.name = name
                atom.element = gemmi.Element(name[0])
                atom.pos = gemmi.Position(*pos)
                atom.occ = 1.0
                res.add_atom(atom)
            chain.add_residue(res)
        model.add_chain(chain)
        structure.add_model(model)
    structure.setup_entities()
    structure.write_pdb(str(path))


def sequence_clusters(segments: Sequence[Backbone], *, k: int = 10) -> list[int]:
    """Cluster ids of segments: two segments sharing a ``k``-residue word are one cluster.

    Single linkage over shared ``k``-mers (a conservative test of relatedness: mutants, other
    constructs of one protein and overlapping pieces of one chain all share long words), so a
    split by cluster keeps related sequences on one side. Ids are ``0, 1, …`` in order of first
    appearance.

    Example:
        >>> seg = lambda s: Backbone(s, torch.tensor([AMINO_ACIDS.index(a) for a in s]),
        ...                          torch.zeros(len(s), 3, 3))
        >>> sequence_clusters([seg("ACDEFGH"), seg("WWWWW"), seg("YYCDEFGY")], k=4)
        [0, 1, 0]
    """
    k = check_positive_int(k, "k")
    parent = list(range(len(segments)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, seg in enumerate(segments):
        s = seg.sequence
        for j in range(len(s) - k + 1):
            word = s[j : j + k]
            if word in owner:
                parent[root(i)] = root(owner[word])
            else:
                owner[word] = i
    ids: dict[int, int] = {}
    return [ids.setdefault(root(i), len(ids)) for i in range(len(segments))]
