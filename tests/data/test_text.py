"""Character windows of Python's help text, with topics."""

import pytest
import torch

from genmatch.data.text import MASK_GLYPH, char_windows, decode, encode, help_text, topic_windows


def test_windows_are_the_slices_at_multiples_of_the_stride():
    ids = torch.arange(10)
    w = char_windows(ids, 4, 3)
    assert torch.equal(w, torch.stack([ids[0:4], ids[3:7], ids[6:10]]))
    assert char_windows(ids[:3], 4, 1).shape == (0, 4)
    with pytest.raises(ValueError, match=r"ids must be \(T,\)"):
        char_windows(ids[None], 4, 1)
    with pytest.raises(ValueError, match="stride"):
        char_windows(ids, 4, 0)


def test_encode_decode_round_trip_and_the_mask_glyph():
    alphabet = "ab c"
    x = encode("a cab", alphabet)
    assert x.tolist() == [0, 2, 3, 0, 1]
    assert decode(torch.cat([x, torch.tensor([4])])[None], alphabet) == ["a cab" + MASK_GLYPH]
    with pytest.raises(ValueError, match=r"\['z'\] are not in the alphabet"):
        encode("az", alphabet)


def test_help_text_is_printable_and_sections_are_checked():
    text = help_text(["for"])
    assert text.startswith('The "for" statement') and all(
        32 <= ord(c) < 127 or c == "\n" for c in text
    )
    with pytest.raises(KeyError, match="unknown help sections"):
        help_text(["no-such-section"])


def test_topic_windows_hold_out_the_end_of_each_topic():
    data = topic_windows({"a": ["for"], "b": ["while", "if"]}, length=16, stride=4, held_out=0.25)
    assert data.topics == ("a", "b")
    assert data.train.shape[1] == data.held_out.shape[1] == 16
    assert set(data.train_labels.tolist()) == set(data.held_out_labels.tolist()) == {0, 1}
    # topic a: every training window lies in the first 75 % of its text, held-out ones after
    text = help_text(["for"])
    split = int(0.75 * len(text))
    train_a = decode(data.train[data.train_labels == 0], data.alphabet)
    held_a = decode(data.held_out[data.held_out_labels == 0], data.alphabet)
    assert train_a[0] == text[:16] and train_a[1] == text[4:20]
    assert held_a[0] == text[split : split + 16]
    assert len(train_a) == (split - 16) // 4 + 1
    with pytest.raises(ValueError, match="held_out must be in"):
        topic_windows({"a": ["for"]}, 16, 4, held_out=1.0)
    with pytest.raises(ValueError, match="too short"):
        topic_windows({"a": ["for"]}, 100_000, 4)
