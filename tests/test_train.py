import pytest
import torch

from genmatch import (
    MLP,
    RK4,
    AffineGaussianPath,
    CondOT,
    EuclideanSpace,
    FlowGenerator,
    GeneratorMatchingLoss,
    simulate,
    train,
)
from genmatch.data import eight_gaussians
from genmatch.metrics import energy_distance

SPACE = EuclideanSpace(2)


def _setup(seed=0):
    torch.manual_seed(seed)
    flow = FlowGenerator(solver=RK4())
    net = MLP(SPACE, flow.head_shapes(SPACE), hidden=64, depth=2)
    return flow, net, GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow)


def test_short_training_reduces_loss_and_improves_energy_distance():
    flow, net, loss_fn = _setup()
    rng = torch.Generator().manual_seed(0)
    data = eight_gaussians(5000, generator=rng)
    fresh = eight_gaussians(1000, generator=rng)
    x_0 = torch.randn(1000, 2, generator=rng)
    before = float(energy_distance(simulate(flow, net, x_0, 8).x, fresh))
    result = train(loss_fn, net, data, steps=400, batch_size=256, lr=3e-3)
    after = float(energy_distance(simulate(flow, net, x_0, 8).x, fresh))
    assert result.losses.shape == (400,)
    assert float(result.losses[-50:].mean()) < 0.8 * float(result.losses[:50].mean())
    assert after < 0.5 * before, (before, after)


def test_training_is_deterministic_for_a_seed():
    runs = []
    for _ in range(2):
        _, net, loss_fn = _setup(seed=3)
        train(
            loss_fn,
            net,
            torch.randn(100, 2, generator=torch.Generator().manual_seed(0)),
            steps=20,
            batch_size=16,
            seed=7,
        )
        runs.append(torch.cat([p.detach().reshape(-1) for p in net.parameters()]))
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


def test_non_finite_loss_raises_at_its_step():
    _, net, loss_fn = _setup()
    data = torch.randn(100, 2)
    data[5:] = 1e30  # finite data whose squared error overflows float32
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(FloatingPointError, match="at step 1: every input point is finite"):
        train(loss_fn, net, data, steps=30, batch_size=50, check_every=10)
    for p, q in zip(net.parameters(), before, strict=True):  # no update was applied
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_checkpoint_resume_is_exact(tmp_path):
    data = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    _, net_a, loss_fn = _setup(seed=1)
    full = train(loss_fn, net_a, data, steps=30, batch_size=16, seed=5)

    _, net_b, _ = _setup(seed=1)
    ckpt = tmp_path / "ckpt.pt"
    opt = torch.optim.Adam(net_b.parameters(), lr=1e-3, fused=True)  # the default's kind
    train(
        loss_fn,
        net_b,
        data,
        steps=12,
        batch_size=16,
        seed=5,
        optimizer=opt,
        checkpoint=ckpt,
        checkpoint_every=4,
    )
    assert ckpt.exists() and not list(tmp_path.glob(".*.tmp"))
    _, net_c, _ = _setup(seed=99)  # different init: everything must come from the checkpoint
    resumed = train(loss_fn, net_c, data, steps=30, batch_size=16, seed=5, checkpoint=ckpt)
    assert resumed.losses.shape == (18,)
    torch.testing.assert_close(resumed.losses, full.losses[12:], rtol=0, atol=0)
    for p, q in zip(net_a.parameters(), net_c.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_bad_arguments():
    _, net, loss_fn = _setup()
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        train(loss_fn, net, torch.randn(10, 2), steps=0, batch_size=4)
    with pytest.raises(ValueError, match=r"\(N, \*event\)"):
        train(loss_fn, net, torch.randn(10), steps=1, batch_size=4)
    with pytest.raises(TypeError, match="sampler"):
        train(loss_fn, net, [1, 2, 3], steps=1, batch_size=4)


def test_resume_with_a_stateful_scheduler_is_exact(tmp_path):
    data = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))

    def run(steps, ckpt=None):
        _, net, loss_fn = _setup(seed=1)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2, fused=True)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
        result = train(
            loss_fn,
            net,
            data,
            steps=steps,
            batch_size=16,
            optimizer=opt,
            scheduler=sched,
            checkpoint=ckpt,
        )
        return result, opt

    full, full_opt = run(20)
    run(7, tmp_path / "ckpt.pt")
    resumed, opt = run(20, tmp_path / "ckpt.pt")
    torch.testing.assert_close(resumed.losses, full.losses[7:], rtol=0, atol=0)
    assert opt.param_groups[0]["lr"] == full_opt.param_groups[0]["lr"]
    assert not hasattr(opt, "found_inf")  # the loop's flag does not outlive the call


def test_a_failed_run_leaves_the_optimizer_usable():
    _, net, loss_fn = _setup()
    data = torch.randn(100, 2)
    data[5:] = 1e30
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, fused=True)
    with pytest.raises(FloatingPointError):
        train(loss_fn, net, data, steps=5, batch_size=50, optimizer=opt)
    assert not hasattr(opt, "found_inf")
    before = [p.detach().clone() for p in net.parameters()]
    net(torch.zeros(3, 2), torch.zeros(3))["velocity"].sum().backward()
    opt.step()  # a plain step afterwards does update
    assert any(not torch.equal(p, q) for p, q in zip(net.parameters(), before, strict=True))
