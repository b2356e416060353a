"""A user's space whose points are a custom (non-pytree) container works end to end by
overriding the documented batch operations: contract, forward equation, oracle, training and
sampling of a whole-state jump model."""

from dataclasses import dataclass

import torch
from torch import nn

from genmatch import ExactMarginal, GeneratorMatchingLoss, JumpGenerator, JumpHead, simulate, train
from genmatch.paths import LinearKappa, MixturePath
from genmatch.sources import UniformFiniteSource
from genmatch.spaces import AbstractFiniteSpace
from genmatch.testing import check_finite_forward_equation, check_state_space


@dataclass(frozen=True)
class Tiles:
    """A batch of tiles: a colour in {0, 1, 2} and a side in {0, 1}, kept apart."""

    colour: torch.Tensor
    side: torch.Tensor


class TileSpace(AbstractFiniteSpace):
    def check(self, x, name="x"):
        if not isinstance(x, Tiles) or x.colour.shape != x.side.shape or x.colour.dim() != 1:
            raise TypeError(f"{name} must be Tiles with matching (batch,) colour and side")
        if bool(((x.colour < 0) | (x.colour > 2) | (x.side < 0) | (x.side > 1)).any()):
            raise ValueError(f"{name} has a colour outside 0..2 or a side outside 0..1")

    def batch_size(self, x):
        return x.colour.shape[0]

    def take(self, x, index):
        return Tiles(x.colour[index], x.side[index])

    def where(self, mask, a, b):
        return Tiles(torch.where(mask, a.colour, b.colour), torch.where(mask, a.side, b.side))

    def cat(self, parts):
        return Tiles(torch.cat([p.colour for p in parts]), torch.cat([p.side for p in parts]))

    def reference(self, x):
        return x.colour

    def enumerate(self):
        k = torch.arange(6)
        return Tiles(k // 2, k % 2)

    def index(self, x):
        return 2 * x.colour + x.side


SPACE = TileSpace()
LAW = torch.tensor([0.05, 0.4, 0.05, 0.05, 0.4, 0.05])
PATH = MixturePath(SPACE, UniformFiniteSource(SPACE), LinearKappa())
GEN = JumpGenerator(SPACE, LinearKappa(), head=JumpHead.STATES)


def _data(n, rng):
    return SPACE.take(SPACE.enumerate(), torch.multinomial(LAW, n, True, generator=rng))


def _freq(x):
    return torch.bincount(SPACE.index(x), minlength=6) / SPACE.batch_size(x)


def _tv(x, law=LAW):
    return float(0.5 * (_freq(x) - law).abs().sum())


class TileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.colour, self.side = nn.Embedding(3, 8), nn.Embedding(2, 8)
        self.out = nn.Sequential(nn.Linear(17, 32), nn.SiLU(), nn.Linear(32, 6))

    def forward(self, x, t):
        h = torch.cat([self.colour(x.colour), self.side(x.side), t[:, None]], 1)
        return {"jump_logits": self.out(h)}


def test_structured_points_end_to_end():
    rng = torch.Generator().manual_seed(0)
    data = _data(400, rng)
    check_state_space(SPACE, data, [Tiles(data.colour + 3, data.side), data.colour])
    check_finite_forward_equation(PATH, GEN, SPACE, SPACE.take(data, torch.tensor([0])), 0.3)
    oracle = ExactMarginal(PATH, GEN, data, t_max=1.0, space=SPACE)
    x_0 = UniformFiniteSource(SPACE).sample(4000, generator=rng)
    out = simulate(GEN, oracle, x_0, 8, rng=rng, space=SPACE).x
    assert isinstance(out, Tiles) and _tv(out, _freq(data)) < 0.03  # the data set's own law
    torch.manual_seed(0)
    net = TileNet()
    fit = train(GeneratorMatchingLoss(PATH, GEN, space=SPACE), net, _data(4000, rng), steps=800,
                batch_size=128, lr=3e-3)  # fmt: skip
    assert float(fit.losses[-30:].mean()) < float(fit.losses[:30].mean())
    with torch.no_grad():
        sampled = simulate(GEN, net.eval(), x_0, 8, rng=rng, space=SPACE).x
    assert _tv(sampled) < 0.08  # the uniform source: 0.47
