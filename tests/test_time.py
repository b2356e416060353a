"""Time samplers and grids for products: tied, independent, pinned; merged per-factor grids."""

import itertools

import pytest
import torch

from genmatch.time import FactorGrids, IndependentTimes, LogitNormalTime, PinnedTimes, TimeGrid

CPU = torch.device("cpu")


def _draw(sampler, n=20_000, seed=0):
    return sampler.sample(
        n, dtype=torch.float64, device=CPU, generator=torch.Generator().manual_seed(seed)
    )


def test_independent_times_are_independent_draws_of_the_base():
    t = _draw(IndependentTimes(["a", "b"], LogitNormalTime(0.0, 0.5)))
    assert set(t) == {"a", "b"} and not torch.equal(t["a"], t["b"])
    corr = torch.corrcoef(torch.stack([t["a"], t["b"]]))[0, 1]
    assert abs(float(corr)) < 0.03
    logit = torch.logit(t["a"])
    assert abs(float(logit.std()) - 0.5) < 0.02  # the base's std is used


@pytest.mark.parametrize(("mean", "std"), [(0.0, 1.0), (1.5, 0.3), (-0.5, 2.0)])
def test_logit_normal_time_has_its_mean_and_std_in_logit_space(mean, std):
    """``logit(t) ~ N(m, s²)``: sample mean and std within 5 standard errors (``s/sqrt(n)``
    and ``s/sqrt(2n)``); the last two cases fail if ``mean`` or ``std`` is ignored (the
    defaults are 0 and 1)."""
    n = 20_000
    t = _draw(LogitNormalTime(mean, std), n=n)
    assert bool(((t > 0) & (t < 1)).all())
    logit = torch.logit(t)
    assert abs(float(logit.mean()) - mean) < 5 * std / n**0.5
    assert abs(float(logit.std()) - std) < 5 * std / (2 * n) ** 0.5


def test_pinned_times_pin_disjoint_subsets_with_the_given_probabilities():
    sampler = PinnedTimes(["img", "cap", "style"], {"cap": 0.2, ("img", "style"): 0.3})
    t = _draw(sampler)
    cap, rest = t["cap"] == 1, (t["img"] == 1) & (t["style"] == 1)
    assert abs(float(cap.double().mean()) - 0.2) < 0.01
    assert abs(float(rest.double().mean()) - 0.3) < 0.01
    assert not bool((cap & rest).any())  # one subset per sample
    assert not bool(((t["img"] == 1) ^ (t["style"] == 1)).any())  # pinned together
    free = ~cap & ~rest
    assert torch.equal(t["img"][free], t["cap"][free])  # tied base: one time for the others
    indep = _draw(PinnedTimes(["a", "b"], {"a": 0.5}, base=IndependentTimes(["a", "b"])))
    free = indep["a"] < 1
    assert not torch.equal(indep["a"][free], indep["b"][free])


@pytest.mark.parametrize(
    ("subsets", "match"),
    [
        ({"zzz": 0.1}, "unknown factors"),
        ({("a", "b"): 0.1}, "pins every factor"),
        ({"a": 0.7, "b": 0.6}, "sum to"),
        ({"a": -0.1}, r"in \[0, 1\]"),
        ({}, "non-empty"),
    ],
)
def test_pinned_times_bad_input(subsets, match):
    with pytest.raises(ValueError, match=match):
        PinnedTimes(["a", "b"], subsets)


def test_factor_grids_merge_by_progress_and_end_exactly():
    grids = FactorGrids({"x": TimeGrid.uniform(6), "y": TimeGrid.uniform(4), "c": None})
    assert grids.steps == 8  # the union of {i/6} and {j/4} has 9 points
    assert grids.held == ("c",)
    for k, n in (("x", 6), ("y", 4)):
        times = grids.times[k]
        assert times[0] == 0.0 and times[-1] == 1.0
        moves = sum(grids.step_sizes(i)[k] > 0 for i in range(grids.steps))
        assert moves == n
        assert all(b >= a for a, b in itertools.pairwise(times))
    assert set(grids.times["c"]) == {1.0}
    assert all(grids.step_sizes(i)["c"] == 0 for i in range(grids.steps))
    custom = FactorGrids({"x": TimeGrid([0.0, 0.9, 1.0]), "y": TimeGrid.uniform(2)})
    assert custom.times["x"] == (0.0, 0.9, 1.0) and custom.times["y"] == (0.0, 0.5, 1.0)


def test_factor_grids_bad_input():
    with pytest.raises(ValueError, match="every factor is held"):
        FactorGrids({"x": None})
    with pytest.raises(TypeError, match="TimeGrid or None"):
        FactorGrids({"x": 8})
