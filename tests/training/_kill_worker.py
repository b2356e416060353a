"""A training run for the kill test: ``python _kill_worker.py CHECKPOINT OUT DROPOUT``.

It prints ``ready`` once imported, trains to 40 steps writing a checkpoint every step
(resuming from it if present), then saves its final weights to ``OUT``.
"""

import sys

import torch
from torch import nn

from genmatch import AffineGaussianPath, CondOT, FlowGenerator, GeneratorMatchingLoss
from genmatch.training import EMA, train

STEPS = 40


class Net(nn.Module):
    def __init__(self, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(3, 256),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(256, 256),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(256, 2),
        )

    def forward(self, x_t, t):
        return {"velocity": self.body(torch.cat([x_t, t[:, None]], 1))}


def run(checkpoint, dropout: float, steps: int = STEPS) -> nn.Module:
    torch.manual_seed(0)
    net = Net(dropout)
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), FlowGenerator())
    data = torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    ema = EMA(net, decay=0.9)
    result = train(
        loss_fn,
        net,
        data,
        steps=steps,
        batch_size=64,
        seed=3,
        checkpoint=checkpoint,
        checkpoint_every=1,
        check_every=1,
        ema=ema,
    )
    return result


if __name__ == "__main__":
    torch.set_num_threads(1)
    print("ready", flush=True)
    result = run(sys.argv[1], float(sys.argv[3]))
    torch.save({"net": result.net.state_dict(), "ema": result.ema.state_dict()}, sys.argv[2])
