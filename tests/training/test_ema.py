"""The EMA of the weights: its closed form, warm-up, checkpoints, and its use for sampling."""

import pytest
import torch
from torch import nn

from genmatch import (
    MLP,
    AffineGaussianPath,
    CondOT,
    EuclideanSpace,
    FlowGenerator,
    GeneratorMatchingLoss,
)
from genmatch.training import EMA, load_checkpoint, train

SPACE = EuclideanSpace(2)


def _closed_form(theta, theta_0, betas):
    """θ̄_N = Π β_m θ_0 + Σ_n (1 - β_n) Π_{m > n} β_m θ_n."""
    out = torch.prod(torch.tensor(betas, dtype=torch.float64)) * theta_0
    for n, th in enumerate(theta):
        tail = torch.prod(torch.tensor(betas[n + 1 :], dtype=torch.float64))
        out = out + (1 - betas[n]) * tail * th
    return out


@pytest.mark.parametrize("warmup", [0.0, 1.0, 5.0])
def test_ema_matches_its_closed_form(warmup):
    torch.manual_seed(0)
    net = nn.Linear(3, 2).double()
    theta_0 = net.weight.detach().clone()
    ema = EMA(net, decay=0.8, warmup=warmup)
    thetas = []
    for _ in range(12):
        with torch.no_grad():
            net.weight.add_(torch.randn_like(net.weight))
        thetas.append(net.weight.detach().clone())
        ema.update(net)
    betas = [min(0.8, n / (n + warmup)) if warmup else 0.8 for n in range(1, 13)]
    assert ema.beta(1) == betas[0] and ema.updates == 12
    torch.testing.assert_close(ema.module.weight, _closed_form(thetas, theta_0, betas))
    if warmup == 1.0:  # β_n = n/(n+1) below the decay: the plain mean of θ_0, ..., θ_n
        src = nn.Linear(3, 2).double()
        fresh = EMA(src, decay=0.99, warmup=1.0)
        theta_0 = src.weight.detach().clone()
        for th in thetas[:3]:
            with torch.no_grad():
                src.weight.copy_(th)
            fresh.update(src)
        mean = torch.stack([theta_0, *thetas[:3]]).mean(0)
        torch.testing.assert_close(fresh.module.weight, mean)


def test_ema_bad_arguments():
    net = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        EMA(net, decay=1.0)
    with pytest.raises(ValueError, match="warmup"):
        EMA(net, warmup=-1.0)
    with pytest.raises(ValueError, match="parameters"):
        EMA(net).update(nn.Linear(2, 3, bias=False))


def _setup():
    torch.manual_seed(1)
    flow = FlowGenerator()
    net = MLP(SPACE, flow.head_shapes(SPACE), hidden=32, depth=2)
    return net, GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow, space=SPACE)


def test_train_keeps_raw_and_ema_weights_and_resumes_them_exactly(tmp_path):
    data = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    net, loss_fn = _setup()
    full = train(loss_fn, net, data, steps=12, batch_size=16, ema=EMA(net, decay=0.9))
    assert full.model is full.ema and full.ema is not full.net and not full.ema.training
    # the EMA differs from the raw weights, which train returns as they are
    assert not torch.equal(full.ema.layers[0].weight, full.net.layers[0].weight)
    assert full.net is net
    ckpt = tmp_path / "ckpt.pt"
    net_b, _ = _setup()
    train(loss_fn, net_b, data, steps=5, batch_size=16, ema=EMA(net_b, decay=0.9), checkpoint=ckpt)
    assert load_checkpoint(ckpt)["ema"]["updates"] == 5
    net_c, _ = _setup()
    resumed = train(
        loss_fn, net_c, data, steps=12, batch_size=16, ema=EMA(net_c, decay=0.9), checkpoint=ckpt
    )
    for a, b in zip(full.ema.parameters(), resumed.ema.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    net_d, _ = _setup()
    with pytest.raises(Exception, match="ema: checkpoint"):
        train(
            loss_fn,
            net_d,
            data,
            steps=12,
            batch_size=16,
            ema=EMA(net_d, decay=0.5),
            checkpoint=ckpt,
        )
    plain = train(loss_fn, _setup()[0], data, steps=2, batch_size=16)
    assert plain.ema is None and plain.model is plain.net
