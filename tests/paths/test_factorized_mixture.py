"""FactorizedMixturePath: endpoints, conditional probabilities, sampling frequencies."""

import re

import pytest
import torch

from genmatch.paths import CosineKappa, FactorizedMixturePath, LinearKappa, PolynomialKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace

D = torch.float64
SPACE = DiscreteSpace(3, 3, mask=True)
SOURCES = {
    "uniform": CategoricalSource.uniform(SPACE),
    "masked": CategoricalSource.masked(SPACE),
    "product": CategoricalSource(
        SPACE,
        torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.0, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25]]),
    ),
}


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("kappa", [LinearKappa(), PolynomialKappa(2.0), CosineKappa()], ids=repr)
def test_conditional_probabilities_are_normalised_and_match_eq_9_25(source, kappa):
    path = FactorizedMixturePath(SPACE, SOURCES[source], kappa)
    points = SPACE.enumerate()
    z = torch.tensor([[0, 2, 1]])
    q = SOURCES[source].position_probs(D)
    for t in (0.0, 0.3, 0.9, 1.0):
        tt = torch.full((points.shape[0],), t, dtype=D)
        k = float(kappa.kappa(tt[:1]))
        mass = torch.exp(path.log_prob(points, tt, z.expand(points.shape[0], -1)))
        assert abs(float(mass.sum()) - 1) < 1e-12
        by_hand = torch.ones(points.shape[0], dtype=D)
        for i in range(3):
            by_hand *= k * (points[:, i] == z[0, i]) + (1 - k) * q[i, points[:, i]]
        assert torch.allclose(mass, by_hand, atol=1e-14)


def test_endpoints_are_the_source_and_the_data(rng):
    path = FactorizedMixturePath(SPACE, SOURCES["masked"], LinearKappa())
    z = torch.tensor([[0, 1, 2]]).expand(64, -1)
    at_0 = path.sample(z, torch.zeros(64, dtype=D), generator=rng)
    assert bool((at_0.x_t == SPACE.mask_token).all())
    at_1 = path.sample(z, torch.ones(64, dtype=D), generator=rng)
    assert torch.equal(at_1.x_t, z)
    given = torch.full((64, 3), 2)
    assert torch.equal(path.sample(z, torch.zeros(64, dtype=D), x_0=given).x_t, given)


def test_sample_frequencies_match_the_conditional_probabilities(rng):
    """Per-position frequencies of 40k draws are within 5 standard errors of ``probs``."""
    path = FactorizedMixturePath(SPACE, SOURCES["product"], CosineKappa())
    n = 40_000
    z = torch.tensor([[3, 1, 0]]).expand(n, -1)  # z may even be the mask: probs still hold
    t = torch.full((n,), 0.4, dtype=D)
    x_t = path.sample(z, t, generator=rng).x_t
    freq = torch.nn.functional.one_hot(x_t, SPACE.num_states).to(D).mean(0)
    probs = path.probs(z[:1], t[:1])[0]
    se = (probs * (1 - probs) / n).sqrt()
    assert bool(((freq - probs).abs() <= 5 * se + 1e-12).all())


def test_a_source_on_another_space_is_rejected():
    other = DiscreteSpace(3, 3)
    with pytest.raises(ValueError, match="different space"):
        FactorizedMixturePath(SPACE, CategoricalSource.uniform(other), LinearKappa())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_probabilities_follow_the_dtype_of_t_and_have_every_state(dtype):
    """``p_{t|Z}(·|z)`` per position, ``(batch, L, S)`` with ``S`` all the states even when ``z``
    does not use the last ones, in the dtype of ``t`` (the source stores float64)."""
    path = FactorizedMixturePath(SPACE, SOURCES["product"], LinearKappa())
    z = torch.tensor([[0, 1, 0], [1, 0, 1]])
    t = torch.tensor([0.25, 0.5], dtype=dtype)
    probs = path.probs(z, t)
    assert probs.dtype == dtype and probs.shape == (2, 3, SPACE.num_states)
    q = SOURCES["product"].position_probs(torch.float64)
    one_hot = torch.nn.functional.one_hot(z, SPACE.num_states).double()
    expected = t.double()[:, None, None] * one_hot + (1 - t.double())[:, None, None] * q
    torch.testing.assert_close(probs.double(), expected, atol=1e-7, rtol=0)
    log_p = path.log_prob(z.flip(0), t, z)
    assert log_p.dtype == dtype
    expected_log = torch.log(expected.gather(2, z.flip(0)[..., None])[..., 0]).sum(1)
    torch.testing.assert_close(log_p.double(), expected_log, atol=1e-6, rtol=0)


def test_samples_are_reproducible_and_keep_their_source_sample(rng):
    """The draw of ``x_0`` and of the mixing coins follows ``generator``; the sample carries
    the ``x_0`` it was built from (the coupling), drawn or given."""
    path = FactorizedMixturePath(SPACE, SOURCES["uniform"], LinearKappa())
    z = torch.tensor([[0, 1, 2]]).expand(200, -1)
    t = torch.full((200,), 0.5, dtype=D)
    a = path.sample(z, t, generator=torch.Generator().manual_seed(3))
    b = path.sample(z, t, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.x_t, b.x_t) and torch.equal(a.x_0, b.x_0)
    assert a.x_0.shape == z.shape
    assert bool(((a.x_t == z) | (a.x_t == a.x_0)).all())
    given = torch.full((200, 3), 3)
    c = path.sample(z, t, x_0=given, generator=torch.Generator().manual_seed(3))
    assert c.x_0 is given
    d = path.sample(z, t, x_0=given, generator=torch.Generator().manual_seed(3))
    assert torch.equal(c.x_t, d.x_t)
    assert not torch.equal(
        c.x_t, path.sample(z, t, x_0=given, generator=torch.Generator().manual_seed(4)).x_t
    )


def test_bad_input_names_the_argument():
    source, kappa = SOURCES["uniform"], LinearKappa()
    for args, message in (
        (("a", source, kappa), "space must be a DiscreteSpace, got str"),
        ((SPACE, "b", kappa), "source must be a CategoricalSource, got str"),
        ((SPACE, source, "c"), "kappa must be a AbstractKappaSchedule, got str"),
    ):
        with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
            FactorizedMixturePath(*args)
    with pytest.raises(ValueError, match="^the source lives on a different space than the path$"):
        FactorizedMixturePath(SPACE, CategoricalSource.uniform(DiscreteSpace(3, 3)), kappa)
    path = FactorizedMixturePath(SPACE, source, kappa)
    z, t = torch.zeros(2, 3, dtype=torch.long), torch.full((2,), 0.5, dtype=D)
    with pytest.raises(ValueError, match=r"^z has tokens outside \[0, 4\): found 9$"):
        path.sample(torch.full((2, 3), 9), t)
    with pytest.raises(ValueError, match=r"^x_0 has tokens outside \[0, 4\): found 9$"):
        path.sample(z, t, x_0=torch.full((2, 3), 9))
    with pytest.raises(ValueError, match=r"^x_0 must have the shape of z \(2, 3\), got \(3, 3\)$"):
        path.sample(z, t, x_0=torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="^z must be int64 tokens, got torch.float32$"):
        path.sample(torch.zeros(2, 3), t)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_coins_are_uniforms_in_the_dtype_of_the_times_per_coordinate(dtype):
    path = FactorizedMixturePath(SPACE, SOURCES["uniform"], LinearKappa())
    n = 64
    z = torch.zeros(n, 3, dtype=torch.long)
    x_0 = torch.full((n, 3), 2)
    t = torch.full((n,), 0.6, dtype=dtype)
    s = path.sample(z, t, x_0=x_0, generator=torch.Generator().manual_seed(3))
    u = torch.rand((n, 3), generator=torch.Generator().manual_seed(3), dtype=dtype)
    assert torch.equal(s.x_t, torch.where(u < t[:, None], z, x_0))
