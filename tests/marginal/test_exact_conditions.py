"""The exact conditional oracle ``F_t(x | c)`` and predictor ``log p_t(c | x)`` of a labelled
finite data set, the clipping at ``t_max`` and the constructor's checks."""

import dataclasses
import math
import re

import pytest
import torch

from genmatch import AffineGaussianPath, CondOT, ExactMarginal, FlowGenerator

F64 = torch.float64
PATH = AffineGaussianPath(CondOT())


def _labelled():
    g = torch.Generator().manual_seed(0)
    data = torch.randn(6, 2, generator=g, dtype=F64)
    labels = torch.tensor([0, 1, 0, 1, 1, 2])
    x = torch.randn(4, 2, generator=g, dtype=F64)
    t = torch.tensor([0.1, 0.4, 0.6, 0.9], dtype=F64)
    return data, labels, x, t


def test_given_is_the_marginal_of_the_data_with_that_condition():
    data, labels, x, t = _labelled()
    oracle = ExactMarginal(PATH, FlowGenerator(), data, conditions=labels)
    c = torch.tensor([0, 1, 2, 1])
    out = oracle.given(c)(x, t)
    for b in range(4):
        sub = ExactMarginal(PATH, FlowGenerator(), data[labels == c[b]])
        torch.testing.assert_close(out[b], sub(x[b : b + 1], t[b : b + 1])[0], atol=1e-12, rtol=0)


def test_log_likelihood_is_the_posterior_mass_of_the_condition():
    """``log p_t(c | x) = log Σ_{i: c_i = c} p(z_i | x)``: the classes' probabilities sum to 1,
    each is the posterior mass of its data, and the predictor is differentiable in ``x``."""
    data, labels, x, t = _labelled()
    oracle = ExactMarginal(PATH, FlowGenerator(), data, conditions=labels)
    w = oracle.posterior(x, t)
    per_class = []
    for k in range(3):
        log_p = oracle.log_likelihood(x, t, torch.full((4,), k))
        torch.testing.assert_close(log_p.exp(), w[:, labels == k].sum(1), atol=1e-12, rtol=0)
        per_class.append(log_p.exp())
    torch.testing.assert_close(sum(per_class), torch.ones(4, dtype=F64), atol=1e-12, rtol=0)
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(oracle.log_likelihood(x, t, torch.zeros(4)).sum(), x)
    assert bool(torch.isfinite(grad).all()) and float(grad.abs().max()) > 1e-3


def test_vector_conditions_match_on_every_entry():
    data, _, x, t = _labelled()
    conds = torch.tensor([[0, 0], [0, 1], [1, 0], [0, 1], [1, 1], [0, 0]])
    oracle = ExactMarginal(PATH, FlowGenerator(), data, conditions=conds)
    c = torch.tensor([[0, 1]]).expand(4, 2)
    mask = (conds == torch.tensor([0, 1])).all(1)
    sub = ExactMarginal(PATH, FlowGenerator(), data[mask])
    torch.testing.assert_close(oracle.given(c)(x, t), sub(x, t), atol=1e-12, rtol=0)
    w = oracle.posterior(x, t)
    torch.testing.assert_close(
        oracle.log_likelihood(x, t, c).exp(), w[:, mask].sum(1), atol=1e-12, rtol=0
    )


def test_a_condition_no_datum_has_gives_uniform_weights_not_nan():
    data, labels, x, t = _labelled()
    oracle = ExactMarginal(PATH, FlowGenerator(), data, conditions=labels)
    out = oracle.given(torch.full((4,), 7))(x, t)
    # uniform posterior: the average of the conditional velocities (z_i − x)/(1 − t)
    expected = (data.mean(0) - x) / (1 - t[:, None])
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)


def test_times_above_t_max_are_evaluated_at_t_max():
    data, _, x, _ = _labelled()
    oracle = ExactMarginal(PATH, FlowGenerator(), data, t_max=0.7)
    at_max = oracle(x, torch.full((4,), 0.7, dtype=F64))
    for t in (torch.tensor([0.8, 0.9, 0.95, 1.0], dtype=F64), torch.tensor(0.9, dtype=F64)):
        t = t.expand(4)
        torch.testing.assert_close(oracle(x, t), at_max, atol=0, rtol=0)
    below = torch.full((4,), 0.5, dtype=F64)
    torch.testing.assert_close(
        oracle(x, below), ExactMarginal(PATH, FlowGenerator(), data)(x, below), atol=0, rtol=0
    )
    assert ExactMarginal(PATH, FlowGenerator(), data, t_max=1.0).t_max == 1.0


def _raises(exc, message, *args, **kwargs):
    with pytest.raises(exc, match=f"^{message}$"):
        ExactMarginal(*args, **kwargs)


def test_constructor_checks_say_what_was_expected():
    data, labels, _, _ = _labelled()
    gen = FlowGenerator()
    _raises(
        TypeError,
        "ExactMarginal needs a path with a density, got CondOT",
        CondOT(),
        gen,
        data,
    )
    _raises(
        TypeError,
        r"conditions must be a tensor \(N, \*c_shape\) aligned with data",
        PATH,
        gen,
        data,
        conditions=torch.tensor(1),
    )
    _raises(
        ValueError,
        "conditions has 5 rows, data 6 points",
        PATH,
        gen,
        data,
        conditions=labels[:5],
    )
    for bad in (0.0, 1.5, -0.1):
        _raises(ValueError, rf"t_max must be in \(0, 1\], got {bad}", PATH, gen, data, t_max=bad)
    for bad in (True, "0.9"):
        _raises(TypeError, f"t_max must be a float, got {bad!r}", PATH, gen, data, t_max=bad)
    _raises(
        ValueError,
        r"data must be \(N, \*event\) with N >= 1, got \(3,\)",
        PATH,
        gen,
        torch.zeros(3, dtype=F64),
    )
    oracle = ExactMarginal(PATH, gen, data)
    with pytest.raises(ValueError, match="^this ExactMarginal has no conditions: pass conditions"):
        oracle.log_likelihood(data[:2], torch.zeros(2, dtype=F64), torch.zeros(2))
    labelled = ExactMarginal(PATH, gen, data, conditions=labels)
    with pytest.raises(
        ValueError, match=r"^c must be \(batch, \(\)\) like the conditions, got \(2, 1\)$"
    ):
        labelled.log_likelihood(data[:2], torch.zeros(2, dtype=F64), torch.zeros(2, 1))
    assert math.isfinite(float(labelled.log_likelihood(data[:2], torch.zeros(2), labels[:2]).sum()))


def _assert_same(a, b, atol=0.0):
    """Equal leaf by leaf: tensors, ``None``, dicts and dataclasses of them."""
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, atol=atol, rtol=0)
    elif a is None:
        assert b is None
    elif isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _assert_same(a[k], b[k], atol)
    else:
        assert type(a) is type(b) and dataclasses.is_dataclass(a)
        for f in dataclasses.fields(a):
            _assert_same(getattr(a, f.name), getattr(b, f.name), atol)


def _product():
    from genmatch import (
        CategoricalSource,
        CTMCGenerator,
        DiscreteSpace,
        EuclideanSpace,
        FactorizedMixturePath,
        LinearKappa,
        ProductGenerator,
        ProductPath,
        ProductSpace,
    )

    tokens = DiscreteSpace(1, 3, mask=True)
    source = CategoricalSource.masked(tokens)
    space = ProductSpace({"x": EuclideanSpace(2), "label": tokens})
    path = ProductPath(
        space,
        {"x": PATH, "label": FactorizedMixturePath(tokens, source, LinearKappa())},
    )
    gen = ProductGenerator(
        space, {"x": FlowGenerator(), "label": CTMCGenerator(tokens, LinearKappa(), source=source)}
    )
    g = torch.Generator().manual_seed(1)
    data = {
        "x": torch.randn(5, 2, generator=g, dtype=F64),
        "label": torch.tensor([[0], [1], [2], [1], [0]]),
    }
    x = {
        "x": torch.randn(7, 2, generator=g, dtype=F64),
        "label": torch.tensor([[3]] * 4 + [[1]] * 3),
    }
    return space, path, gen, data, x


def test_per_factor_t_max_clips_each_factor_at_its_own_time():
    space, path, gen, data, x = _product()
    oracle = ExactMarginal(path, gen, data, t_max={"x": 0.6, "label": 0.8}, space=space)
    t = {"x": torch.full((7,), 0.9, dtype=F64), "label": torch.full((7,), 0.95, dtype=F64)}
    at_max = {"x": torch.full((7,), 0.6, dtype=F64), "label": torch.full((7,), 0.8, dtype=F64)}
    _assert_same(oracle(x, t), oracle(x, at_max))
    _assert_same(
        oracle(x, torch.full((7,), 0.9, dtype=F64)), oracle(x, {"x": at_max["x"], "label": t["x"]})
    )
    # one time for both factors is each factor's time
    shared = oracle(x, torch.full((7,), 0.3, dtype=F64))
    per_factor = oracle(x, {k: torch.full((7,), 0.3, dtype=F64) for k in ("x", "label")})
    _assert_same(shared, per_factor)
    # the posterior takes one time for every factor too
    torch.testing.assert_close(
        oracle.posterior(x, torch.full((7,), 0.9, dtype=F64)),
        oracle.posterior(x, {"x": at_max["x"], "label": t["x"]}),
        atol=0,
        rtol=0,
    )
    with pytest.raises(ValueError, match=r"^t has factors \['x'\], t_max \['label', 'x'\]$"):
        oracle.posterior(x, {"x": t["x"]})


def test_chunked_evaluation_equals_the_whole_batch_for_structured_values():
    """Chunks (``max_pairs``) are concatenated leaf by leaf: dicts on a product, dataclasses
    (tangent vectors) on a manifold."""
    from genmatch import GeodesicPath, Hypersphere, ManifoldSpace, RiemannianFlowGenerator
    from genmatch.sources import UniformSource

    space, path, gen, data, x = _product()
    t = torch.linspace(0.1, 0.9, 7, dtype=F64)
    whole = ExactMarginal(path, gen, data, space=space)(x, t)
    chunked = ExactMarginal(path, gen, data, space=space, max_pairs=10)(x, t)
    _assert_same(chunked, whole, atol=1e-12)

    sphere = ManifoldSpace(Hypersphere(3), (3,))
    g = torch.Generator().manual_seed(2)
    z = UniformSource(sphere).sample(4, generator=g, dtype=F64)
    y = UniformSource(sphere).sample(7, generator=g, dtype=F64)
    flow, geo = RiemannianFlowGenerator(sphere), GeodesicPath(sphere)
    whole = ExactMarginal(geo, flow, z, space=sphere)(y, t)
    chunked = ExactMarginal(geo, flow, z, space=sphere, max_pairs=8)(y, t)
    _assert_same(chunked, whole, atol=1e-12)


def test_concatenating_tuples_and_refusing_other_values():
    from genmatch.marginal.exact import _concat

    a, b = torch.ones(2, 1), torch.zeros(3, 1)
    out = _concat([(a, None), (b, None)])
    assert isinstance(out, tuple) and out[1] is None
    torch.testing.assert_close(out[0], torch.cat([a, b]), atol=0, rtol=0)
    assert _concat([None, None]) is None
    with pytest.raises(TypeError, match="^cannot concatenate values of type int$"):
        _concat([1, 2])


def test_points_no_datum_can_reach_get_uniform_weights_the_others_their_posterior():
    data, labels, x, t = _labelled()
    oracle = ExactMarginal(PATH, FlowGenerator(), data, conditions=labels)
    c = torch.tensor([7, 0, 7, 1])
    out = oracle.given(c)(x, t)
    uniform = (data.mean(0) - x) / (1 - t[:, None])
    torch.testing.assert_close(out[[0, 2]], uniform[[0, 2]], atol=1e-12, rtol=0)
    for b in (1, 3):
        sub = ExactMarginal(PATH, FlowGenerator(), data[labels == c[b]])
        torch.testing.assert_close(out[b], sub(x[b : b + 1], t[b : b + 1])[0], atol=1e-12, rtol=0)


def test_call_errors_name_x_and_data():
    from genmatch import GeodesicPath, Hypersphere, ManifoldSpace, RiemannianFlowGenerator
    from genmatch.sources import UniformSource

    oracle = ExactMarginal(PATH, FlowGenerator(), torch.zeros(3, 2))
    t2 = torch.zeros(2)
    with pytest.raises(
        TypeError, match="^x has dtype torch.float64 but data has dtype torch.float32$"
    ):
        oracle(torch.zeros(2, 2, dtype=F64), t2)
    with pytest.raises(TypeError, match="^x must have a floating dtype, got torch.int32$"):
        oracle(torch.zeros(2, 2, dtype=torch.int32), t2)
    with pytest.raises(ValueError, match=r"^x has the structure TreeSpec\(dict"):
        oracle({"a": torch.zeros(2, 2)}, t2)
    with pytest.raises(ValueError, match=r"^x must be a non-empty batch, got 0 points"):
        oracle(torch.zeros(0, 2), torch.zeros(0))
    sphere = ManifoldSpace(Hypersphere(3), (3,))
    z = UniformSource(sphere).sample(3, generator=torch.Generator().manual_seed(0))
    on_sphere = ExactMarginal(
        GeodesicPath(sphere), RiemannianFlowGenerator(sphere), z, space=sphere
    )
    with pytest.raises(ValueError, match="^x is not on Hypersphere"):
        on_sphere(torch.ones(2, 3), t2)
    with pytest.raises(ValueError, match=r"^x must be a non-empty batch, got 0 points"):
        on_sphere(torch.zeros(0, 3), torch.zeros(0))


def test_clipping_keeps_a_shared_time_expanded():
    """Generators recognise one time for the whole batch by its zero stride."""
    from genmatch.marginal.exact import _clip_one

    for n in (2, 5):
        shared = torch.tensor(0.995, dtype=F64).expand(n)
        out = _clip_one(shared, 0.99)
        assert out.shape == (n,) and out.stride(0) == 0
        torch.testing.assert_close(out, torch.full((n,), 0.99, dtype=F64), atol=0, rtol=0)
    per_point = torch.tensor([0.5, 0.995], dtype=F64)
    torch.testing.assert_close(_clip_one(per_point, 0.99), torch.tensor([0.5, 0.99], dtype=F64))


def test_constructor_errors_name_the_argument():
    from genmatch import GeodesicPath, Hypersphere, ManifoldSpace, RiemannianFlowGenerator

    gen, data = FlowGenerator(), torch.zeros(3, 2)
    cases = [
        (TypeError, "generator must be a AbstractGenerator, got int", {"generator": 1}),
        (TypeError, "space must be a AbstractStateSpace, got int", {"space": 1}),
        (ValueError, "max_pairs must be an integer >= 1, got 0", {"max_pairs": 0}),
        (ValueError, "data contains NaN or Inf values", {"data": torch.tensor([[math.nan, 0]])}),
        (TypeError, "data must have a floating dtype, got torch.int32", {"data": data.int()}),
        (ValueError, "data must be (N, *event) with N >= 1, got 0 points", {"data": data[:0]}),
        (ValueError, "t_max['x'] must be in (0, 1], got 2.0", {"t_max": {"x": 2.0}}),
        (TypeError, "t_max['x'] must be a float, got None", {"t_max": {"x": None}}),
    ]
    for exc, message, change in cases:
        kwargs = {"path": PATH, "generator": gen, "data": data, **change}
        with pytest.raises(exc, match=f"^{re.escape(message)}$"):
            ExactMarginal(**kwargs)
    sphere = ManifoldSpace(Hypersphere(3), (3,))
    with pytest.raises(ValueError, match=r"^data is not on Hypersphere"):
        ExactMarginal(
            GeodesicPath(sphere), RiemannianFlowGenerator(sphere), torch.ones(3, 3), space=sphere
        )


def test_condition_and_point_errors_state_both_shapes():
    data, _, x, t = _labelled()
    conds = torch.zeros(6, 2, dtype=torch.long)
    oracle = ExactMarginal(PATH, FlowGenerator(), data, conditions=conds)
    message = r"^c must be \(batch, \(2,\)\) like the conditions, got "
    with pytest.raises(ValueError, match=message + r"\(4, 3\)$"):
        oracle.log_likelihood(x, t, torch.zeros(4, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=message + "list$"):
        oracle.log_likelihood(x, t, [0, 1])
    with pytest.raises(ValueError, match=r"^x has event shape \(3,\), data \(2,\)$"):
        oracle(torch.zeros(4, 3, dtype=F64), t)
    with pytest.raises(ValueError, match="^x contains NaN or Inf values$"):
        oracle(torch.full((4, 2), math.inf, dtype=F64), t)
