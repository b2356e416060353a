import pytest
import torch


@pytest.fixture
def one_thread():
    """Train tiny networks on one intra-op thread: faster than several on a loaded machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _quadrant_accuracy(net, *, steps, batch_size, lr):
    """Train ``net`` to predict the quadrant of a point in [-1, 1]² as the masked label token
    (the point clean at t = 1, the label at t = 0); its accuracy on 2000 fresh points and
    its logits there."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rng = torch.Generator().manual_seed(0)

    def batch(n):
        x = torch.rand(n, 2, generator=rng) * 2 - 1
        y = (x[:, 0] > 0).long() * 2 + (x[:, 1] > 0).long()
        x_t = {"x": x, "label": torch.full((n, 1), 4)}  # the label is masked
        return x_t, {"x": torch.ones(n), "label": torch.zeros(n)}, y

    for _ in range(steps):
        x_t, t, y = batch(batch_size)
        loss = torch.nn.functional.cross_entropy(net(x_t, t)["label/logits"][:, 0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x_t, t, y = batch(2000)
    with torch.no_grad():
        logits = net(x_t, t)["label/logits"][:, 0]
    return float((logits.argmax(-1) == y).float().mean()), logits


@pytest.fixture
def quadrant_accuracy():
    """The quadrant-label learning task shared by the product networks' tests."""
    return _quadrant_accuracy
