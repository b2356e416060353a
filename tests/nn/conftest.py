import pytest
import torch


@pytest.fixture
def one_thread():
    """Train tiny networks on one intra-op thread: faster than several on a loaded machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
