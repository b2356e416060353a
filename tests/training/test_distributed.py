"""Data-parallel training with 2 gloo processes on the CPU, launched by torchrun."""

import subprocess
import sys
from pathlib import Path

import torch

from genmatch.training import EMA, load_checkpoint, train

WORKER = Path(__file__).with_name("_ddp_worker.py")


def _worker():
    sys.path.insert(0, str(WORKER.parent))
    try:
        import _ddp_worker
    finally:
        sys.path.pop(0)
    return _ddp_worker


def test_ddp_equals_one_process_and_resumes_on_any_number_of_ranks(tmp_path):
    w = _worker()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(WORKER),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # one DDP step over a global batch of 2 micro-batches = the one-process step over both
    net, loss_fn = w.setup()
    train(loss_fn, net, w.DATA, steps=1, **w.KW)
    ddp = torch.load(tmp_path / "one_step.pt", weights_only=True)
    before, _ = w.setup()
    for name, value in net.state_dict().items():
        torch.testing.assert_close(ddp[name], value, rtol=1e-6, atol=1e-7)
        assert not torch.equal(value, before.state_dict()[name])  # the step did move it
    # DDP 3 steps + DDP resume to 6 = one process uninterrupted to 6
    net, _ = w.setup()
    full = train(loss_fn, net, w.DATA, steps=6, ema=EMA(net), **w.KW)
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)
    for name, value in net.state_dict().items():
        torch.testing.assert_close(resumed[name], value, rtol=1e-5, atol=1e-6)
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 6
    # the 2-rank checkpoint at step 3, resumed by one process: the same run
    net, _ = w.setup()
    one = train(
        loss_fn, net, w.DATA, steps=6, checkpoint=tmp_path / "ckpt3.pt", ema=EMA(net), **w.KW
    )
    torch.testing.assert_close(one.losses, full.losses[3:], rtol=1e-5, atol=1e-6)
    for a, b in zip(one.ema.parameters(), full.ema.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
