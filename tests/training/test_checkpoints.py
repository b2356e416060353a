"""Checkpoints you can trust: guarded updates, validated data and resumes, clear errors on bad
files, seeded dropout, and SIGKILL at random moments."""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

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
    value_checks,
)
from genmatch.generators import CTMCGenerator
from genmatch.nn import SequenceTransformer
from genmatch.paths import FactorizedMixturePath, LinearKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace
from genmatch.training import (
    CheckpointError,
    NonFiniteTrainingError,
    load_checkpoint,
    save_checkpoint,
    train,
)
from genmatch.training.streams import DATA, stream_seed

SPACE = EuclideanSpace(2)
DATA_SET = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))


def _setup(seed=1, hidden=32):
    torch.manual_seed(seed)
    flow = FlowGenerator()
    net = MLP(SPACE, flow.head_shapes(SPACE), hidden=hidden, depth=2)
    return net, GeneratorMatchingLoss(AffineGaussianPath(CondOT()), flow, space=SPACE)


class PoisonAt(nn.Module):
    """Wraps a network; its output is NaN at forward call ``k`` (1-based)."""

    def __init__(self, net: nn.Module, k: int) -> None:
        super().__init__()
        self.net, self.k, self.calls = net, k, 0

    def forward(self, x_t, t):
        self.calls += 1
        out = self.net(x_t, t)
        if self.calls == self.k:
            out = {name: v * float("nan") for name, v in out.items()}
        return out


def _weights(net):
    return [p.detach().clone() for p in net.parameters()]


def _assert_same(a, b):
    for p, q in zip(a, b, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


@pytest.mark.parametrize("fused", [True, False], ids=["device-flag", "scalar-sync"])
def test_nan_at_step_k_stops_at_k_with_the_last_good_checkpoint_intact(tmp_path, fused):
    net, loss_fn = _setup()
    clean = _weights(net)
    ckpt = tmp_path / "ckpt.pt"
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, fused=fused)
    poisoned = PoisonAt(net, k=7)
    with pytest.raises(NonFiniteTrainingError, match="at step 7") as info:
        # checkpoint_every < check_every: the case that used to write NaN weights
        train(
            loss_fn,
            poisoned,
            DATA_SET,
            steps=20,
            batch_size=16,
            optimizer=opt,
            checkpoint=ckpt,
            checkpoint_every=2,
            check_every=5,
        )
    assert info.value.step == 7 and len(info.value.batches) == 1
    torch.testing.assert_close(info.value.batches[0].shape, torch.Size([16, 2]))
    assert load_checkpoint(ckpt)["step"] == 6
    # a clean 6-step run from the same start: the checkpoint and the network hold its weights
    ref, _ = _setup()
    _assert_same(_weights(ref), clean)
    train(
        loss_fn,
        ref,
        DATA_SET,
        steps=6,
        batch_size=16,
        optimizer=torch.optim.Adam(ref.parameters(), lr=1e-2, fused=fused),
    )
    saved, _ = _setup(seed=9)
    saved.load_state_dict(
        {k.removeprefix("net."): v for k, v in load_checkpoint(ckpt)["net"].items()}
    )
    _assert_same(_weights(saved), _weights(ref))
    _assert_same(_weights(net), _weights(ref))


def test_a_sampler_batch_with_nan_points_names_its_rows():
    net, _ = _setup()
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), FlowGenerator())
    bad_seed = stream_seed(0, 3, 0, DATA)  # step 4, micro-batch 0

    def sampler(n, rng):
        x = torch.randn(n, 2, generator=rng)
        if rng.initial_seed() == bad_seed:
            x[[2, 5]] = float("nan")
        return x

    with value_checks(False):  # the loss's own input check off: the step's flag catches it
        with pytest.raises(NonFiniteTrainingError, match=r"at step 4: non-finite input") as info:
            train(loss_fn, net, sampler, steps=10, batch_size=8, check_every=10)
    assert info.value.bad_rows[0].tolist() == [2, 5]


def test_data_is_validated():
    net, loss_fn = _setup()
    bad = DATA_SET.clone()
    bad[3, 1] = float("inf")
    with pytest.raises(ValueError, match="data .*NaN or Inf"):
        train(loss_fn, net, bad, steps=2, batch_size=4)
    plain = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), FlowGenerator())  # no space
    with pytest.raises(ValueError, match=r"non-finite values \(tensor 0, rows \[3\]\)"):
        train(plain, net, bad, steps=2, batch_size=4)
    space = DiscreteSpace(4, 3)
    gen = CTMCGenerator(space, LinearKappa())
    path = FactorizedMixturePath(space, CategoricalSource.uniform(space), LinearKappa())
    seq = SequenceTransformer(space, gen.head_shapes(space), d_model=16, num_heads=2)
    tokens = torch.tensor([[0, 1, 2, 0], [2, 2, 3, 0]])  # 3 is out of range for 3 states
    with pytest.raises(ValueError, match="data"):
        train(GeneratorMatchingLoss(path, gen, space=space), seq, tokens, steps=2, batch_size=2)


def test_resume_with_other_settings_is_an_error_unless_overridden(tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    net, loss_fn = _setup()
    train(loss_fn, net, DATA_SET, steps=4, batch_size=16, seed=5, lr=1e-3, checkpoint=ckpt)
    for change, name in [
        ({"seed": 6}, "seed"),
        ({"lr": 2e-3}, "lr"),
        ({"batch_size": 8}, "batch_size"),
    ]:
        kwargs = {"seed": 5, "lr": 1e-3, "batch_size": 16, **change}
        net, _ = _setup()
        with pytest.raises(CheckpointError, match=rf"ckpt.pt was written .*{name}: checkpoint"):
            train(loss_fn, net, DATA_SET, steps=8, checkpoint=ckpt, **kwargs)
    wide, _ = _setup(hidden=48)
    with pytest.raises(CheckpointError, match="parameters: checkpoint"):
        train(loss_fn, wide, DATA_SET, steps=8, batch_size=16, seed=5, checkpoint=ckpt)
    net, _ = _setup()
    result = train(
        loss_fn,
        net,
        DATA_SET,
        steps=8,
        batch_size=16,
        seed=5,
        lr=2e-3,
        checkpoint=ckpt,
        resume_overrides={"lr"},
    )
    assert result.losses.shape == (4,)
    assert load_checkpoint(ckpt)["run"]["lr"] == [2e-3]
    with pytest.raises(ValueError, match="unknown names"):
        train(loss_fn, net, DATA_SET, steps=8, batch_size=16, resume_overrides={"parameters"})


def test_bad_checkpoint_files_and_arguments_give_clear_errors(tmp_path):
    net, loss_fn = _setup()
    ckpt = tmp_path / "ckpt.pt"
    train(loss_fn, net, DATA_SET, steps=20, batch_size=16, checkpoint=ckpt, checkpoint_every=5)
    with pytest.raises(CheckpointError, match=r"ckpt.pt is at step 20, beyond steps=10"):
        train(loss_fn, net, DATA_SET, steps=10, batch_size=16, checkpoint=ckpt)
    data = ckpt.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    for path, what in [
        (truncated, "cannot be read"),
        (garbage, "cannot be read"),
        (foreign, "not a genmatch training checkpoint"),
    ]:
        with pytest.raises(CheckpointError, match=rf"{path.name}.*{what}|{what}"):
            train(loss_fn, net, DATA_SET, steps=30, batch_size=16, checkpoint=path)
        with pytest.raises(CheckpointError, match=path.name):
            load_checkpoint(path)
    for bad in (0, -1):
        with pytest.raises(ValueError, match=r"checkpoint_every must be an integer >= 1.*end"):
            train(loss_fn, net, DATA_SET, steps=2, batch_size=4, checkpoint_every=bad)
    for name in ("steps", "batch_size", "check_every", "micro_batches"):
        kwargs = {"steps": 2, "batch_size": 4, name: -3}
        with pytest.raises(ValueError, match=rf"{name} must be an integer >= 1, got -3"):
            train(loss_fn, net, DATA_SET, **kwargs)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        train(loss_fn, net, DATA_SET, steps=2, batch_size=4, seed=-1)
    with pytest.raises(ValueError, match="lr must be"):
        train(loss_fn, net, DATA_SET, steps=2, batch_size=4, lr=-1e-3)


def test_leftover_temporary_files_are_removed(tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    stale = tmp_path / ".ckpt.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / ".other.pt.abc123.tmp"  # another checkpoint's: left alone
    other.write_bytes(b"x")
    net, loss_fn = _setup()
    train(loss_fn, net, DATA_SET, steps=2, batch_size=4, checkpoint=ckpt)
    assert not stale.exists() and other.exists() and ckpt.exists()


def _sequence_run(tmp_path, steps, dropout, ckpt=None):
    torch.manual_seed(0)
    space = DiscreteSpace(5, 4, mask=True)
    gen = CTMCGenerator(space, LinearKappa())
    path = FactorizedMixturePath(space, CategoricalSource.masked(space), LinearKappa())
    net = SequenceTransformer(
        space, gen.head_shapes(space), d_model=16, num_heads=2, dropout=dropout
    )
    data = torch.randint(4, (64, 5), generator=torch.Generator().manual_seed(2))
    loss_fn = GeneratorMatchingLoss(path, gen, space=space)
    outside = torch.random.get_rng_state()
    result = train(loss_fn, net, data, steps=steps, batch_size=8, seed=4, checkpoint=ckpt)
    assert torch.equal(torch.random.get_rng_state(), outside)  # the caller's RNG is untouched
    return result


def test_dropout_is_seeded_and_resumes_exactly(tmp_path):
    a = _sequence_run(tmp_path, 10, dropout=0.3)
    b = _sequence_run(tmp_path, 10, dropout=0.3)
    torch.testing.assert_close(a.losses, b.losses, rtol=0, atol=0)
    no_dropout = _sequence_run(tmp_path, 10, dropout=0.0)
    assert not torch.equal(a.losses, no_dropout.losses)  # the dropout did act
    ckpt = tmp_path / "seq.pt"
    _sequence_run(tmp_path, 4, dropout=0.3, ckpt=ckpt)
    resumed = _sequence_run(tmp_path, 10, dropout=0.3, ckpt=ckpt)
    torch.testing.assert_close(resumed.losses, a.losses[4:], rtol=0, atol=0)
    _assert_same(_weights(resumed.net), _weights(a.net))


WORKER = Path(__file__).with_name("_kill_worker.py")


@pytest.mark.parametrize("dropout", [0.0, 0.2], ids=["no-dropout", "dropout"])
def test_sigkill_at_random_moments_always_resumes_bit_exactly(tmp_path, dropout):
    sys.path.insert(0, str(WORKER.parent))
    try:
        from _kill_worker import run
    finally:
        sys.path.pop(0)
    torch.set_num_threads(1)
    reference = run(None, dropout)
    ckpt, out = tmp_path / "ckpt.pt", tmp_path / "final.pt"
    rng = random.Random(int(dropout * 10))
    kills = 0
    while not out.exists():
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(ckpt), str(out), str(dropout)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        if kills < 2:
            time.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        if ckpt.exists():
            load_checkpoint(ckpt)  # whatever the moment, the file on disk is whole
    final = torch.load(out, weights_only=True)
    for name, value in reference.net.state_dict().items():
        torch.testing.assert_close(final["net"][name], value, rtol=0, atol=0)
    for name, value in reference.ema.state_dict().items():
        torch.testing.assert_close(final["ema"][name], value, rtol=0, atol=0)


def test_save_checkpoint_round_trip(tmp_path):
    path = tmp_path / "sub" / "state.pt"
    save_checkpoint(path, {"format": "genmatch-train", "version": 2, "x": torch.arange(3)})
    assert torch.equal(load_checkpoint(path)["x"], torch.arange(3))
    assert not list(path.parent.glob(".*.tmp"))
