"""Whole-state jumps on a user's finite space (permutations): head, oracle, training, KFE."""

import itertools

import pytest
import torch
from torch import nn

from genmatch import ExactMarginal, GeneratorMatchingLoss, JumpGenerator, JumpHead, simulate, train
from genmatch.paths import LinearKappa, MixturePath
from genmatch.sources import UniformFiniteSource
from genmatch.spaces import AbstractFiniteSpace, EuclideanSpace
from genmatch.testing import check_finite_forward_equation, check_state_space


class Permutations(AbstractFiniteSpace):
    """Permutations of ``n`` items as ``(batch, n)`` int64 rows."""

    def __init__(self, n):
        self.n = n
        self._all = torch.tensor(list(itertools.permutations(range(n))))
        self._keys = self._key(self._all)

    def _key(self, x):
        return (x * self.n ** torch.arange(self.n - 1, -1, -1)).sum(1)

    def check(self, x, name="x"):
        if not isinstance(x, torch.Tensor) or x.dtype != torch.int64 or x.shape[1:] != (self.n,):
            raise TypeError(f"{name} must be (batch, {self.n}) int64")
        if not torch.equal(x.sort(1).values, torch.arange(self.n).expand_as(x)):
            raise ValueError(f"{name} has rows that are not permutations")

    def enumerate(self):
        return self._all

    def index(self, x):
        return torch.searchsorted(self._keys, self._key(x))


SPACE = Permutations(4)
KAPPA = LinearKappa()
PATH = MixturePath(SPACE, UniformFiniteSource(SPACE), KAPPA)


def _data(n, rng):
    """Mostly the identity and one transposition of it: a peaked law on 24 permutations."""
    base = torch.tensor([[0, 1, 2, 3], [1, 0, 2, 3], [0, 1, 3, 2]])
    pick = torch.multinomial(torch.tensor([0.6, 0.3, 0.1]), n, True, generator=rng)
    return base[pick]


def test_the_space_passes_the_contract():
    check_state_space(SPACE, _data(8, torch.Generator()), [torch.zeros(2, 4, dtype=torch.long)])
    assert SPACE.num_points == 24
    assert torch.equal(SPACE.index(SPACE.enumerate()), torch.arange(24))


@pytest.mark.parametrize("head", list(JumpHead), ids=lambda h: h.value)
@pytest.mark.parametrize("t", [0.2, 0.7])
def test_forward_equation_on_permutations(head, t):
    gen = JumpGenerator(SPACE, KAPPA, head=head)
    dp, _ = check_finite_forward_equation(PATH, gen, SPACE, torch.tensor([[2, 0, 3, 1]]), t)
    assert float(dp.abs().max()) > 1e-2


def test_oracle_regenerates_the_data_distribution():
    rng = torch.Generator().manual_seed(0)
    data = _data(300, rng)
    gen = JumpGenerator(SPACE, KAPPA, head=JumpHead.STATES)
    oracle = ExactMarginal(PATH, gen, data, t_max=1.0)
    x = simulate(gen, oracle, UniformFiniteSource(SPACE).sample(3000, generator=rng), 16, rng=rng).x
    SPACE.check(x)
    freq = torch.bincount(SPACE.index(x), minlength=24) / 3000
    ref = torch.bincount(SPACE.index(data), minlength=24) / 300
    assert float(0.5 * (freq - ref).abs().sum()) < 0.03  # sampling floor ≈ 0.015


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(4 * 4, 16)
        self.mlp = nn.Sequential(nn.Linear(16 * 4 + 1, 64), nn.SiLU(), nn.Linear(64, 24))

    def forward(self, x, t):
        h = self.embed(x + 4 * torch.arange(4)).flatten(1)
        return {"jump_logits": self.mlp(torch.cat([h, t[:, None]], 1))}


def test_trained_states_head_learns_the_law():
    rng = torch.Generator().manual_seed(0)
    gen = JumpGenerator(SPACE, KAPPA, head=JumpHead.STATES)
    loss = GeneratorMatchingLoss(PATH, gen, space=SPACE)
    torch.manual_seed(0)
    net = _Net()
    fit = train(loss, net, _data(5000, rng), steps=400, batch_size=128, lr=3e-3)
    assert float(fit.losses[-50:].mean()) < float(fit.losses[:50].mean())
    net.eval()
    with torch.no_grad():
        x = simulate(gen, net, UniformFiniteSource(SPACE).sample(3000, generator=rng), 16, rng=rng)
    freq = torch.bincount(SPACE.index(x.x), minlength=24) / 3000
    ref = torch.bincount(SPACE.index(_data(100_000, rng)), minlength=24) / 100_000
    assert float(0.5 * (freq - ref).abs().sum()) < 0.05  # uniform: 0.875


def test_clear_errors():
    with pytest.raises(TypeError, match=r"head=JumpHead.STATES\) on a finite space"):
        JumpGenerator(SPACE).head_shapes(SPACE)
    with pytest.raises(TypeError, match="BinnedJumpGenerator on R\\^d"):
        JumpGenerator(EuclideanSpace(2)).head_shapes(EuclideanSpace(2))
    with pytest.raises(TypeError, match="needs a finite space"):
        JumpGenerator(EuclideanSpace(2), KAPPA, head=JumpHead.STATES)
    with pytest.raises(ValueError, match="needs the mixture path's kappa"):
        JumpGenerator(SPACE, head=JumpHead.STATES)
    with pytest.raises(TypeError, match="density only on a finite space"):
        MixturePath(EuclideanSpace(2), UniformFiniteSource(SPACE), KAPPA).log_prob(
            torch.zeros(1, 2), torch.zeros(1), torch.zeros(1, 2)
        )
