"""The sequence transformer: shapes, errors, permutation behaviour, and a training step."""

import pytest
import torch

from genmatch import GeneratorMatchingLoss
from genmatch.generators import CTMCGenerator, CTMCHead
from genmatch.nn import SequenceTransformer
from genmatch.paths import FactorizedMixturePath, LinearKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace


def test_heads_and_bad_input():
    space = DiscreteSpace(6, 5, mask=True)
    net = SequenceTransformer(space, {"logits": (6, 6), "rate": (6, 6)}, d_model=16, num_heads=2)
    out = net(torch.zeros(3, 6, dtype=torch.long), torch.rand(3))
    assert out["logits"].shape == (3, 6, 6) and out["rate"].shape == (3, 6, 6)
    with pytest.raises(ValueError, match="x_t must be"):
        net(torch.zeros(3, 5, dtype=torch.long), torch.rand(3))
    with pytest.raises(ValueError, match="must be shaped"):
        SequenceTransformer(space, {"logits": (5, 6)})


def test_outputs_depend_on_time_and_on_other_positions():
    torch.manual_seed(0)
    space = DiscreteSpace(4, 3)
    net = SequenceTransformer(space, {"logits": (4, 3)}, d_model=16, num_heads=2)
    x = torch.tensor([[0, 1, 2, 0]])
    y = torch.tensor([[0, 1, 2, 1]])  # only the last position differs
    a = net(x, torch.tensor([0.2]))["logits"]
    assert not torch.allclose(a, net(x, torch.tensor([0.7]))["logits"])
    assert not torch.allclose(a[:, 0], net(y, torch.tensor([0.2]))["logits"][:, 0])


@pytest.mark.parametrize("head", list(CTMCHead), ids=lambda h: h.value)
def test_a_few_training_steps_reduce_the_loss(head):
    torch.manual_seed(0)
    space = DiscreteSpace(4, 3, mask=True)
    kappa = LinearKappa()
    gen = CTMCGenerator(space, kappa, head=head)
    path = FactorizedMixturePath(space, CategoricalSource.masked(space), kappa)
    net = SequenceTransformer(space, gen.head_shapes(space), d_model=32, num_heads=2)
    loss_fn = GeneratorMatchingLoss(path, gen)
    data = torch.tensor([[0, 1, 2, 0], [2, 2, 1, 0]]).repeat(32, 1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    rng = torch.Generator().manual_seed(1)
    t = torch.full((64,), 0.5)
    losses = []
    for _ in range(60):
        loss = loss_fn(net, data, t=t, generator=rng)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:10]) / 10
