import os
from pathlib import Path

import pytest
import torch

# Subprocesses (examples, benchmarks, the CLI) import the checkout under test, not another
# installed copy of genmatch (e.g. an editable install of a different worktree).
_ROOT = str(Path(__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_ROOT, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
)

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one intra-op thread per xdist worker: the workers already use every core
    torch.set_num_threads(1)

#: Absolute tolerances per dtype for identities that should hold to rounding.
TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


@pytest.fixture(params=[torch.float32, torch.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture(autouse=True)
def _seed_global_rng():
    """Every test starts from the same global RNG state, whatever ran before it on its worker."""
    torch.manual_seed(0)


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(1234)
