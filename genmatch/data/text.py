"""Character text that ships with Python (``pydoc_data``), as token windows, with topics.

Python's interactive help (``help("topics")``) is stored in :mod:`pydoc_data.topics`: about
465k characters of English technical prose in some eighty sections ("specialnames",
"compound", "formatstrings", ...). It needs no download, which makes it the text corpus of the
examples: :func:`help_text` joins sections, :func:`char_windows` cuts token windows,
:func:`topic_windows` builds a labelled data set (one label per group of sections) with a
held-out split, :func:`decode` turns tokens back into strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import check_positive_int

#: The token shown for the mask state by :func:`decode`.
MASK_GLYPH = "\u2588"


def help_text(sections: Sequence[str] | None = None) -> str:
    """The text of Python's help topics, printable ASCII and newlines only.

    Args:
        sections: the section names to join (in this order); all of them, sorted, by default.

    Returns:
        The sections joined by newlines, every other character replaced by a space.

    Raises:
        KeyError: a section name that does not exist (the message lists a few that do).
    """
    from pydoc_data.topics import topics

    if sections is None:
        sections = sorted(topics)
    unknown = [s for s in sections if s not in topics]
    if unknown:
        raise KeyError(f"unknown help sections {unknown}; some that exist: {sorted(topics)[:8]}")
    text = "\n".join(topics[k] for k in sections)
    return "".join(c if (32 <= ord(c) < 127 or c == "\n") else " " for c in text)


def char_windows(ids: Tensor, length: int, stride: int) -> Tensor:
    """All windows ``ids[i : i + length]`` with ``i`` a multiple of ``stride``.

    Args:
        ids: token ids, ``(T,)``.
        length: window length ``L``.
        stride: step between window starts.

    Returns:
        ``(N, L)`` with ``N = ⌊(T − L) / stride⌋ + 1`` (0 when ``T < L``).
    """
    check_positive_int(length, "length")
    check_positive_int(stride, "stride")
    if ids.dim() != 1:
        raise ValueError(f"ids must be (T,), got {tuple(ids.shape)}")
    if ids.shape[0] < length:
        return ids.new_empty((0, length))
    return ids.unfold(0, length, stride).contiguous()


def encode(text: str, alphabet: str) -> Tensor:
    """Characters to token ids, ``(len(text),)`` int64; a character outside ``alphabet`` raises."""
    lookup = {c: i for i, c in enumerate(alphabet)}
    missing = sorted(set(text) - lookup.keys())
    if missing:
        raise ValueError(f"characters {missing[:10]} are not in the alphabet")
    return torch.tensor([lookup[c] for c in text], dtype=torch.long)


def decode(x: Tensor, alphabet: str, mask: str = MASK_GLYPH) -> list[str]:
    """Token ids ``(n, L)`` back to ``n`` strings; ids ``≥ len(alphabet)`` (the mask) show as
    ``mask``."""
    if x.dim() != 2:
        raise ValueError(f"x must be (n, L) token ids, got {tuple(x.shape)}")
    return ["".join(alphabet[i] if i < len(alphabet) else mask for i in row.tolist()) for row in x]


@final
@dataclass(frozen=True)
class TopicWindows:
    """A labelled character data set: windows of text and the topic each comes from.

    Attributes:
        train: training windows, ``(N, L)`` int64.
        train_labels: their topics, ``(N,)`` int64 in ``[0, K)``.
        held_out: held-out windows (from the end of each topic's text, disjoint from the
            training text), ``(M, L)``.
        held_out_labels: ``(M,)``.
        alphabet: the characters, token ``i`` is ``alphabet[i]``.
        topics: the ``K`` topic names.
    """

    train: Tensor
    train_labels: Tensor
    held_out: Tensor
    held_out_labels: Tensor
    alphabet: str
    topics: tuple[str, ...]


def topic_windows(
    groups: Mapping[str, Sequence[str]],
    length: int,
    stride: int,
    held_out: float = 0.1,
) -> TopicWindows:
    """Windows of Python's help text labelled with their topic, one topic per group of sections.

    Each topic's text is split at ``1 − held_out`` of its length: training windows (start
    every ``stride``) come from the first part, held-out windows (non-overlapping) from the
    rest, so no held-out character is seen in training. The alphabet is every character of
    the chosen sections, sorted.

    Args:
        groups: topic name ↦ the help sections it joins, e.g.
            ``{"strings": ["formatstrings", "string-methods"], ...}``.
        length: window length ``L``.
        stride: step between training window starts.
        held_out: the share of each topic's text held out, in ``(0, 1)``.

    Returns:
        The :class:`TopicWindows`.
    """
    if len(groups) < 1:
        raise ValueError("groups must name at least one topic")
    if not 0.0 < held_out < 1.0:
        raise ValueError(f"held_out must be in (0, 1), got {held_out}")
    texts = {name: help_text(list(sections)) for name, sections in groups.items()}
    alphabet = "".join(sorted(set("".join(texts.values()))))
    parts: list[tuple[Tensor, Tensor]] = []
    for k, text in enumerate(texts.values()):
        ids = encode(text, alphabet)
        split = int((1.0 - held_out) * ids.shape[0])
        train, test = (
            char_windows(ids[:split], length, stride),
            char_windows(ids[split:], length, length),
        )
        if train.shape[0] == 0 or test.shape[0] == 0:
            raise ValueError(f"topic {list(texts)[k]!r} is too short for windows of {length}")
        parts.append((train, test))
    return TopicWindows(
        train=torch.cat([p[0] for p in parts]),
        train_labels=torch.cat([torch.full((p[0].shape[0],), k) for k, p in enumerate(parts)]),
        held_out=torch.cat([p[1] for p in parts]),
        held_out_labels=torch.cat([torch.full((p[1].shape[0],), k) for k, p in enumerate(parts)]),
        alphabet=alphabet,
        topics=tuple(texts),
    )
