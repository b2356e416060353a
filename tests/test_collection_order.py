"""Doctest collection must not load a second copy of a module (run-order independence)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genmatch import CategoricalSource, CTMCGenerator, DiscreteSpace, FactorizedMixturePath
from genmatch.likelihood import exact_log_prob
from genmatch.paths import LinearKappa

ROOT = Path(__file__).resolve().parents[1]


def test_doctests_of_a_module_collected_first_share_its_classes():
    """``ctmc.py``'s doctests collected before a test using ``PosteriorValue``: one class."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "genmatch/generators/ctmc.py", "tests/likelihood/test_discrete.py"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_exact_log_prob_raises_instead_of_skipping_the_exact_last_step():
    space = DiscreteSpace(1, 2, mask=True)
    path = FactorizedMixturePath(space, CategoricalSource.masked(space), LinearKappa())
    gen = CTMCGenerator(space, LinearKappa())

    def rates_not_posterior(x, t):
        return torch.zeros(x.shape[0], 1, 3)

    with pytest.raises(TypeError, match="must return PosteriorValue"):
        exact_log_prob(rates_not_posterior, gen, path, torch.tensor([[0]]), steps=4)
