"""Confidence-ordered unmasking (``JumpMethod.CONFIDENCE``), checked exactly.

With jump probabilities 0 or 1 the count of unmasked positions is fixed, so the positions a
step fills (the most confident masked ones, ties by position) and their tokens are exact.
"""

import torch

from genmatch.generators.ctmc_unmasking import confidence_unmask

D = torch.float64
M = 3  # the mask token


def _probs():
    """Four positions over tokens 0..2 and the mask; position 1 is unmasked in the tests."""
    return torch.tensor(
        [
            [
                [0.6, 0.4, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
                [0.1, 0.9, 0.0, 0.0],
                [0.2, 0.3, 0.5, 0.0],
            ],
        ],
        dtype=D,
    )


def test_the_count_comes_from_the_masked_positions_and_the_most_confident_are_filled():
    """Masked positions 0, 2, 3 draw tokens of confidence 0.6, 0.9, 0.5; the jump
    probabilities fill two of them: positions 2 and 0 (not 3, whose own ``p_jump`` is 1)."""
    probs = _probs()
    draw = torch.tensor([[0, 2, 1, 2]])
    x = torch.tensor([[M, 2, M, M]])
    p_jump = torch.tensor([[0.0, 1.0, 1.0, 1.0]], dtype=D)  # position 1 is not masked: no count
    out = confidence_unmask(probs, draw, x, p_jump, M)
    assert torch.equal(out, torch.tensor([[0, 2, 1, M]]))
    one = confidence_unmask(probs, draw, x, torch.tensor([[0.0, 1.0, 0.0, 1.0]], dtype=D), M)
    assert torch.equal(one, torch.tensor([[M, 2, 1, M]]))
    every = confidence_unmask(probs, draw, x, torch.ones(1, 4, dtype=D), M)
    assert torch.equal(every, torch.tensor([[0, 2, 1, 2]]))
    none = confidence_unmask(probs, draw, x, torch.zeros(1, 4, dtype=D), M)
    assert torch.equal(none, x)


def test_unmasked_positions_rank_last_and_never_change():
    """The unmasked position 1 has the largest confidence (1.0) but ranks after every masked
    one, so a count of 2 fills the two most confident masked positions."""
    probs = _probs()
    draw = torch.tensor([[1, 2, 1, 2]])
    x = torch.tensor([[M, 0, M, M]])
    out = confidence_unmask(probs, draw, x, torch.tensor([[1.0, 0.0, 1.0, 0.0]], dtype=D), M)
    assert torch.equal(out, torch.tensor([[M, 0, 1, 2]]))


def test_ties_go_to_the_first_position_and_rows_are_independent():
    probs = torch.full((2, 5, 4), 0.25, dtype=D)
    draw = torch.tensor([[0, 1, 2, 0, 1], [2, 2, 2, 2, 2]])
    x = torch.tensor([[M, M, M, M, M], [1, M, M, 0, M]])
    p_jump = torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 0.0]], dtype=D)
    out = confidence_unmask(probs, draw, x, p_jump, M)
    # row 0: count 2, the first two positions; row 1: masked 1, 2, 4 with p_jump 1, 1, 0
    assert torch.equal(out, torch.tensor([[0, 1, M, M, M], [1, 2, 2, 0, M]]))


def test_the_count_has_the_law_of_independent_bernoullis():
    """Three masked positions with ``p_jump = 0.25``: the number unmasked is
    ``Binomial(3, 0.25)`` (within 5 standard errors over 20 000 rows)."""
    n = 20_000
    probs = torch.full((n, 3, 4), 0.25, dtype=D)
    draw = torch.zeros(n, 3, dtype=torch.long)
    x = torch.full((n, 3), M)
    out = confidence_unmask(
        probs, draw, x, torch.tensor(0.25, dtype=D), M, torch.Generator().manual_seed(0)
    )
    count = (out != M).sum(1)
    freq = torch.bincount(count, minlength=4).to(D) / n
    exact = torch.tensor([27 / 64, 27 / 64, 9 / 64, 1 / 64], dtype=D)
    band = 5 * torch.sqrt(exact * (1 - exact) / n)
    assert bool(((freq - exact).abs() <= band).all()), freq
    # the filled ones are the first positions (all confidences tie)
    assert bool((out[count == 1, 0] == 0).all()) and bool((out[count == 1, 1:] == M).all())
