"""Data-parallel runs for the DDP tests, launched by ``torchrun --nproc-per-node 2``:
``python -m torch.distributed.run --standalone --nproc-per-node 2 _ddp_worker.py OUT``.

Writes (rank 0) ``OUT/one_step.pt`` (weights after one DDP step), ``OUT/ckpt.pt`` (a
checkpoint at step 3, then resumed to 6) and ``OUT/resumed.pt`` (weights at step 6).
"""

import shutil
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from genmatch import (
    MLP,
    AffineGaussianPath,
    CondOT,
    EuclideanSpace,
    FlowGenerator,
    GeneratorMatchingLoss,
)
from genmatch.training import EMA, init_from_environment, train

SPACE = EuclideanSpace(2)
DATA = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
KW = {"batch_size": 32, "micro_batches": 2, "seed": 3, "lr": 1e-2}


def setup():
    torch.manual_seed(1)
    flow = FlowGenerator()
    net = MLP(SPACE, flow.head_shapes(SPACE), hidden=32, depth=2)
    return net, GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow, space=SPACE)


def main(out: Path) -> None:
    world = init_from_environment()
    torch.set_num_threads(1)
    net, loss_fn = setup()
    train(loss_fn, net, DATA, steps=1, **KW)
    if world.is_main:
        torch.save(net.state_dict(), out / "one_step.pt")
    net, _ = setup()
    train(loss_fn, net, DATA, steps=3, checkpoint=out / "ckpt.pt", ema=EMA(net), **KW)
    if world.is_main:
        shutil.copy(out / "ckpt.pt", out / "ckpt3.pt")
    dist.barrier()
    net, _ = setup()
    train(loss_fn, net, DATA, steps=6, checkpoint=out / "ckpt.pt", ema=EMA(net), **KW)
    if world.is_main:
        torch.save(net.state_dict(), out / "resumed.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
