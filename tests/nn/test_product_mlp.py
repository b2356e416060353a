"""The product MLP: features, heads, per-factor times, errors, and a small learning problem."""

import pytest
import torch
from torch import nn

from genmatch.manifolds import SO3
from genmatch.nn import ProductMLP
from genmatch.spaces import DiscreteSpace, EuclideanSpace, ManifoldSpace, ProductSpace, TensorSpace

B = 6
SPACE = ProductSpace(
    {
        "image": EuclideanSpace(2),
        "caption": DiscreteSpace(4, 5, mask=True),
        "frames": ManifoldSpace(SO3(), (3, 3, 3)),
    }
)
HEADS = {"image/velocity": (2,), "caption/logits": (4, 6), "frames/velocity": (3, 3, 3)}


def points(batch=B):
    return {
        "image": torch.randn(batch, 2),
        "caption": torch.randint(0, 6, (batch, 4)),
        "frames": SO3().random_uniform_points(3 * batch).reshape(batch, 3, 3, 3),
    }


def times(batch=B):
    return {k: torch.rand(batch) for k in SPACE.names}


def make():
    torch.manual_seed(0)
    return ProductMLP(SPACE, HEADS, hidden=32, depth=2, time_dim=8)


def test_heads_and_input_width():
    net = make()
    out = net(points(), times())
    assert {k: tuple(v.shape) for k, v in out.items()} == {k: (B, *s) for k, s in HEADS.items()}
    # 2 floats + 4 one-hot tokens of 6 states + 27 ambient coordinates + 3 time embeddings of 8
    assert net.layers[0].in_features == 2 + 4 * 6 + 27 + 3 * 8


def test_features_are_flat_points_one_hot_tokens_and_time_embeddings():
    net = make()
    x, t = points(1), times(1)
    x["caption"] = torch.tensor([[0, 5, 2, 3]])
    seen = []
    handle = net.layers[0].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    net(x, t)
    handle.remove()
    expected = torch.cat(
        [
            x["image"],
            nn.functional.one_hot(x["caption"], 6).float().reshape(1, 24),
            x["frames"].reshape(1, 27),
            *[net.time_embedding(t[k]) for k in SPACE.names],
        ],
        dim=1,
    )
    torch.testing.assert_close(seen[0], expected)


def test_each_factor_time_and_every_factor_matter():
    net = make()
    x, t = points(), times()
    base = net(x, t)
    for name in SPACE.names:
        t2 = t | {name: 1 - t[name]}
        assert not torch.allclose(net(x, t2)["image/velocity"], base["image/velocity"])
    y = x | {"caption": (x["caption"] + 1) % 6}
    assert not torch.allclose(net(y, t)["frames/velocity"], base["frames/velocity"])


def test_dict_order_and_tied_times():
    net = make()
    x, t = points(), times()
    a = net(x, t)
    b = net(dict(reversed(list(x.items()))), dict(reversed(list(t.items()))))
    for key in HEADS:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    s = torch.rand(B)
    torch.testing.assert_close(
        net(x, s)["image/velocity"], net(x, {k: s for k in SPACE.names})["image/velocity"]
    )


def test_gradients_reach_every_parameter():
    net = make()
    out = net(points(), times())
    sum((v * torch.randn_like(v)).sum() for v in out.values()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_nested_product():
    inner = ProductSpace({"u": EuclideanSpace(3), "v": DiscreteSpace(2, 3)})
    space = ProductSpace({"a": ManifoldSpace(SO3(), (3, 3)), "pair": inner})
    heads = {"a/velocity": (3, 3), "pair/u/velocity": (3,), "pair/v/logits": (2, 3)}
    net = ProductMLP(space, heads, hidden=16, depth=1, time_dim=4)
    x = {
        "a": SO3().random_uniform_points(B),
        "pair": {"u": torch.randn(B, 3), "v": torch.randint(0, 3, (B, 2))},
    }
    out = net(x, {"a": torch.rand(B), "pair": torch.rand(B)})
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == heads


def test_errors():
    net = make()
    x, t = points(), times()
    with pytest.raises(ValueError, match="names no factor"):
        ProductMLP(SPACE, {"sound/logits": (3,)})
    with pytest.raises(TypeError, match="neither a DiscreteSpace"):
        ProductMLP(ProductSpace({"g": TensorSpace()}), {"g/velocity": (2,)})
    with pytest.raises(ValueError, match=r"x_t\['frames'\] must have shape \(batch, 3, 3, 3\)"):
        net(x | {"frames": x["frames"][:, :2]}, t)
    with pytest.raises(ValueError, match="disagree on the batch size"):
        net(x | {"caption": x["caption"][:2]}, t)
    with pytest.raises(ValueError, match="x_t has factors"):
        net(x | {"sound": x["image"]}, t)
    with pytest.raises(ValueError, match=r"t\['caption'\] must have shape"):
        net(x, t | {"caption": torch.rand(B, 1)})


def test_learns_the_label_of_the_quadrant(one_thread, quadrant_accuracy):
    """A point in R^2 and a masked label token: the logits head learns the point's quadrant."""
    space = ProductSpace({"x": EuclideanSpace(2), "label": DiscreteSpace(1, 4, mask=True)})
    torch.manual_seed(0)
    net = ProductMLP(space, {"label/logits": (1, 5)}, hidden=64, depth=2, time_dim=8)
    accuracy, logits = quadrant_accuracy(net, steps=300, batch_size=128, lr=3e-3)
    assert accuracy > 0.95, accuracy
    assert logits.softmax(-1)[:, 4].max() < 0.05  # never predicts the mask token
