"""Gradient clipping, LR schedules, accumulation, mixed precision and compilation."""

import math

import pytest
import torch

from genmatch import (
    MLP,
    AffineGaussianPath,
    CondOT,
    EuclideanSpace,
    FlowGenerator,
    GeneratorMatchingLoss,
)
from genmatch.training import LogRecord, Precision, WarmupCosine, train

SPACE = EuclideanSpace(2)
DATA = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))


def _setup(seed=1):
    torch.manual_seed(seed)
    flow = FlowGenerator()
    net = MLP(SPACE, flow.head_shapes(SPACE), hidden=32, depth=2)
    return net, GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow, space=SPACE)


def test_warmup_cosine_values():
    s = WarmupCosine(warmup=4, total=12, final=0.1)
    assert [s(i) for i in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert s(8) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way through the decay
    assert s(12) == pytest.approx(0.1) and s(100) == pytest.approx(0.1)
    assert WarmupCosine(warmup=2)(50) == 1.0
    with pytest.raises(ValueError, match="total"):
        WarmupCosine(warmup=5, total=5)
    with pytest.raises(ValueError, match="final"):
        WarmupCosine(final=2.0)


def test_lr_schedule_sets_the_rate_each_step():
    net, loss_fn = _setup()
    seen = []
    train(
        loss_fn,
        net,
        DATA,
        steps=6,
        batch_size=8,
        lr=1e-2,
        check_every=1,
        lr_schedule=WarmupCosine(warmup=2, total=6),
        log=seen.append,
    )
    assert all(isinstance(r, LogRecord) for r in seen) and [r.step for r in seen] == list(
        range(1, 7)
    )
    expected = [1e-2 * WarmupCosine(warmup=2, total=6)(s) for s in range(6)]
    assert [r.lr for r in seen] == pytest.approx(expected)


def test_micro_batches_accumulate_to_the_mean_gradient():
    """One step over 4 micro-batches equals one plain step over their concatenation with the
    same times and noise: the loss is a mean, so its gradient is the mean of the parts'."""
    from genmatch.training.loop import _seeded

    net, loss_fn = _setup()
    ref, _ = _setup()
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    rng = torch.Generator()
    train(
        loss_fn,
        net,
        DATA,
        steps=1,
        batch_size=32,
        micro_batches=4,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
    )
    from genmatch.spaces.base import TENSORS  # noqa: F401  (the data set is a plain tensor)

    total = 0.0
    for m in range(4):
        g = _seeded(rng, 0, 0, m)
        idx = torch.randint(300, (8,), generator=g)
        total = total + loss_fn(ref, DATA[idx], generator=g) / 4
    opt.zero_grad()
    total.backward()
    opt.step()
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_clipping_bounds_the_update():
    net, loss_fn = _setup()
    before = [p.detach().clone() for p in net.parameters()]
    train(
        loss_fn,
        net,
        DATA,
        steps=1,
        batch_size=64,
        clip_grad_norm=1e-3,
        optimizer=torch.optim.SGD(net.parameters(), lr=1.0),
    )
    step = torch.cat(
        [(p.detach() - q).flatten() for p, q in zip(net.parameters(), before, strict=True)]
    )
    assert float(step.norm()) == pytest.approx(1e-3, rel=1e-4)  # SGD: lr · clipped gradient


@pytest.mark.parametrize("precision", [Precision.BF16, Precision.FP16])
def test_mixed_precision_trains_and_keeps_float32_weights(precision):
    net, loss_fn = _setup()
    result = train(loss_fn, net, DATA, steps=30, batch_size=64, lr=3e-3, precision=precision)
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert result.losses.dtype == torch.float32 and bool(torch.isfinite(result.losses).all())
    fp32, _ = _setup()
    ref = train(loss_fn, fp32, DATA, steps=30, batch_size=64, lr=3e-3)
    # same batches, half-precision arithmetic: close to the float32 run, not equal to it
    assert not torch.equal(result.losses, ref.losses)
    assert math.isclose(float(result.losses.mean()), float(ref.losses.mean()), rel_tol=0.1)


def test_compiled_network_matches_eager():
    net, loss_fn = _setup()
    eager = train(loss_fn, net, DATA, steps=3, batch_size=16)
    net_c, _ = _setup()
    compiled = train(loss_fn, net_c, DATA, steps=3, batch_size=16, compile=True)
    torch.testing.assert_close(compiled.losses, eager.losses, rtol=1e-5, atol=1e-6)
