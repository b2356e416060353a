"""Exact conversions between the four predictions; loss-weight equivalence; singular times."""

import itertools

import pytest
import torch

from genmatch import AffineGaussianPath, CondOT, Cosine, PathSample, Polynomial, VPLinear
from genmatch.diffusion import Prediction, PredictionModel, convert, slope

SCHEDULES = [CondOT(), Cosine(), Polynomial(2.0), VPLinear()]


def _truth(schedule, rng):
    """Ideal predictions on one sample: x̂ = z, ε̂ = ε, s = −ε/σ, u = α̇ z + σ̇ ε."""
    path = AffineGaussianPath(schedule)
    z = torch.randn(32, 3, dtype=torch.float64, generator=rng)
    eps = torch.randn(32, 3, dtype=torch.float64, generator=rng)
    t = 0.05 + 0.9 * torch.rand(32, dtype=torch.float64, generator=rng)
    s = path.sample(z, t, x_0=eps)
    c = schedule(t)
    return (
        s.x_t,
        t,
        {
            Prediction.DATA: z,
            Prediction.EPSILON: eps,
            Prediction.SCORE: -eps / c.sigma_t[:, None],
            Prediction.VELOCITY: path.conditional_velocity(
                PathSample(x_t=s.x_t, t=t, z=z, x_0=eps)
            ),
        },
    )


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_every_conversion_is_exact_and_round_trips(schedule, rng):
    x, t, truth = _truth(schedule, rng)
    for a, b in itertools.product(Prediction, Prediction):
        out = convert(truth[a], a, b, x, t, schedule)
        torch.testing.assert_close(out, truth[b], rtol=1e-9, atol=1e-9)
        back = convert(out, b, a, x, t, schedule)
        torch.testing.assert_close(back, truth[a], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_loss_weights_make_losses_equal(schedule, rng):
    x, t, truth = _truth(schedule, rng)
    for a, b in itertools.product(Prediction, Prediction):
        wrong = truth[a] + 0.1 * torch.randn(truth[a].shape, dtype=torch.float64, generator=rng)
        err_b = ((convert(wrong, a, b, x, t, schedule) - truth[b]) ** 2).sum(1)
        err_a = ((wrong - truth[a]) ** 2).sum(1)
        torch.testing.assert_close(
            slope(a, b, t, schedule) ** 2 * err_a, err_b, rtol=1e-8, atol=1e-12
        )


def test_singular_times_raise():
    x = torch.zeros(2, 1, dtype=torch.float64)
    t0 = torch.zeros(2, dtype=torch.float64)
    t1 = torch.ones(2, dtype=torch.float64)
    with pytest.raises(ValueError, match="α_t = 0"):
        convert(x, Prediction.EPSILON, Prediction.DATA, x, t0, CondOT())
    with pytest.raises(ValueError, match="σ_t = 0"):
        convert(x, Prediction.DATA, Prediction.EPSILON, x, t1, CondOT())
    # velocity ↔ data is regular at both ends for CondOT
    assert bool(
        torch.isfinite(convert(x, Prediction.VELOCITY, Prediction.DATA, x, t1, CondOT())).all()
    )


def test_prediction_model_wraps_a_head(rng):
    schedule = Cosine()
    x, t, truth = _truth(schedule, rng)
    model = PredictionModel(
        lambda x_t, t: {"eps": truth[Prediction.EPSILON]}, "eps", Prediction.EPSILON, schedule
    )
    torch.testing.assert_close(model.velocity(x, t), truth[Prediction.VELOCITY])
    torch.testing.assert_close(model(x, t, Prediction.SCORE), truth[Prediction.SCORE])


@pytest.mark.parametrize("prediction", [Prediction.EPSILON, Prediction.DATA])
def test_weighted_flow_loss_is_the_heads_own_squared_error(prediction):
    """ε-prediction trained through the flow-matching loss with ``mse_weight`` is ``|ε̂ − ε|²``."""
    from genmatch import AffineGaussianPath, EuclideanSpace, FlowGenerator, GeneratorMatchingLoss
    from genmatch.diffusion import VelocityFromPrediction, mse_weight
    from genmatch.nn import MLP

    schedule = VPLinear()
    torch.manual_seed(0)
    inner = MLP(EuclideanSpace(2), {"head": (2,)}, hidden=16).double()
    net = VelocityFromPrediction(inner, "head", prediction, schedule)
    path = AffineGaussianPath(schedule)
    loss_fn = GeneratorMatchingLoss(
        path, FlowGenerator(), weighting=mse_weight(prediction, schedule)
    )
    rng = torch.Generator().manual_seed(1)
    x_1 = torch.randn(64, 2, generator=rng, dtype=torch.float64)
    x_0 = torch.randn(64, 2, generator=rng, dtype=torch.float64)
    t = 0.01 + 0.9 * torch.rand(64, generator=rng, dtype=torch.float64)
    terms = loss_fn.terms(net, x_1, x_0=x_0, t=t)
    x_t = terms.sample.x_t
    truth = x_0 if prediction is Prediction.EPSILON else x_1
    direct = ((inner(x_t, t)["head"] - truth) ** 2).sum(1)
    torch.testing.assert_close(terms.per_sample, direct, rtol=1e-9, atol=1e-10)
