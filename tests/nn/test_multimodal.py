"""The multimodal transformer: heads, per-factor times, cross-modal mixing, errors, learning."""

import pytest
import torch
from torch import nn

from genmatch.manifolds import SO3
from genmatch.nn import FeatureEncoder, MultimodalTransformer
from genmatch.spaces import DiscreteSpace, EuclideanSpace, ManifoldSpace, ProductSpace

B = 5
SPACE = ProductSpace(
    {
        "image": EuclideanSpace(2),
        "caption": DiscreteSpace(4, 5, mask=True),
        "frames": ManifoldSpace(SO3(), (3, 3, 3)),
    }
)
HEADS = {
    "image/velocity": (2,),
    "caption/logits": (4, 6),
    "frames/velocity": (3, 3, 3),
    "frames/energy": (),
}


def points(batch=B, seed=0):
    rng = torch.Generator().manual_seed(seed)
    return {
        "image": torch.randn(batch, 2, generator=rng),
        "caption": torch.randint(0, 6, (batch, 4), generator=rng),
        "frames": SO3().random_uniform_points(3 * batch, generator=rng).reshape(batch, 3, 3, 3),
    }


def times(batch=B, seed=0):
    rng = torch.Generator().manual_seed(seed + 100)
    return {k: torch.rand(batch, generator=rng) for k in SPACE.names}


def make(**kwargs):
    torch.manual_seed(0)
    return MultimodalTransformer(
        SPACE, HEADS, d_model=16, num_heads=2, num_layers=2, time_dim=8, **kwargs
    )


def test_head_shapes_and_read_outs():
    net = make()
    out = net(points(), times())
    assert list(out) == list(HEADS)
    for key, shape in HEADS.items():
        assert out[key].shape == (B, *shape), key
    # per token where the head starts with the factor's token count, else pooled
    assert net.per_token == {
        "image/velocity": False,
        "caption/logits": True,
        "frames/velocity": True,
        "frames/energy": False,
    }
    assert net.readouts["frames/velocity"].out_features == 9
    assert net.num_tokens == {"image": 1, "caption": 4, "frames": 3}


def test_each_factor_time_changes_the_outputs():
    net = make()
    x, t = points(), times()
    base = net(x, t)
    for name in SPACE.names:
        t2 = dict(t)
        t2[name] = torch.where(t[name] > 0.5, t[name] - 0.4, t[name] + 0.4)
        out = net(x, t2)
        for key in HEADS:  # through the trunk, one factor's clock reaches every head
            assert not torch.allclose(out[key], base[key], atol=1e-6), (name, key)


def test_one_factor_influences_the_heads_of_the_others():
    net = make()
    x, t = points(), times()
    base = net(x, t)
    y = dict(x)
    y["caption"] = (x["caption"] + 1) % 6
    out = net(y, t)
    assert not torch.allclose(out["image/velocity"], base["image/velocity"], atol=1e-6)
    assert not torch.allclose(out["frames/velocity"], base["frames/velocity"], atol=1e-6)
    y = dict(x)
    y["image"] = x["image"] + 1.0
    out = net(y, t)
    assert not torch.allclose(out["caption/logits"], base["caption/logits"], atol=1e-6)


def test_per_token_heads_see_their_own_token():
    net = make()
    x, t = points(), times()
    y = dict(x)
    y["frames"] = x["frames"].clone()
    y["frames"][:, 2] = x["frames"][:, 0]  # frame 2 now equals frame 0 ...
    out = net(y, t)["frames/velocity"]
    # ... yet their read-outs differ: the position embedding tells tokens apart
    assert not torch.allclose(out[:, 0], out[:, 2], atol=1e-6)


def test_dict_order_does_not_matter():
    net = make()
    x, t = points(), times()
    a = net(x, t)
    b = net(dict(reversed(list(x.items()))), dict(reversed(list(t.items()))))
    for key in HEADS:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_one_time_tensor_is_used_for_every_factor():
    net = make()
    x, s = points(), torch.rand(B)
    a, b = net(x, s), net(x, {k: s for k in SPACE.names})
    for key in HEADS:
        torch.testing.assert_close(a[key], b[key])


def test_gradients_reach_every_parameter():
    net = make()
    out = net(points(), times())
    torch.manual_seed(1)
    loss = sum((v * torch.randn_like(v)).sum() for v in out.values())
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_float64():
    net = make().double()
    x = {k: v.double() if v.is_floating_point() else v for k, v in points().items()}
    t = {k: v.double() for k, v in times().items()}
    assert all(v.dtype == torch.float64 for v in net(x, t).values())


def test_nested_product():
    inner = ProductSpace({"u": ManifoldSpace(SO3(), (3, 3)), "v": DiscreteSpace(3, 4)})
    space = ProductSpace({"a": EuclideanSpace(2), "pair": inner})
    heads = {"a/velocity": (2,), "pair/u/velocity": (3, 3), "pair/v/logits": (3, 4)}
    torch.manual_seed(0)
    net = MultimodalTransformer(space, heads, d_model=16, num_heads=2, time_dim=8)
    x = {
        "a": torch.randn(B, 2),
        "pair": {"u": SO3().random_uniform_points(B), "v": torch.randint(0, 4, (B, 3))},
    }
    t = {"a": torch.rand(B), "pair": {"u": torch.rand(B), "v": torch.ones(B)}}
    out = net(x, t)
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == heads
    assert list(net.encoders) == ["a", "pair/u", "pair/v"]
    # a tensor for the nested product is used for each of its factors
    t_tied = {"a": t["a"], "pair": t["pair"]["u"]}
    t_each = {"a": t["a"], "pair": {"u": t["pair"]["u"], "v": t["pair"]["u"]}}
    torch.testing.assert_close(net(x, t_tied)["a/velocity"], net(x, t_each)["a/velocity"])
    t2 = {"a": t["a"], "pair": {"u": t["pair"]["u"], "v": torch.zeros(B)}}
    assert not torch.allclose(net(x, t2)["a/velocity"], out["a/velocity"])
    with pytest.raises(ValueError, match="nested product"):
        MultimodalTransformer(space, {"pair/velocity": (2,)}, d_model=16, num_heads=2)
    with pytest.raises(ValueError, match=r"x_t\['pair'\] has factors"):
        net({"a": x["a"], "pair": {"u": x["pair"]["u"]}}, t)


class PairEncoder(nn.Module):
    """A user's encoder: two tokens for a 2-D point."""

    num_tokens = 2

    def __init__(self, d_model):
        super().__init__()
        self.linear = nn.Linear(1, d_model)

    def forward(self, x):
        return self.linear(x[..., None])


def test_user_encoders():
    heads = {"image/velocity": (2,), "caption/logits": (4, 6)}
    torch.manual_seed(0)
    net = MultimodalTransformer(
        SPACE,
        heads,
        d_model=16,
        num_heads=2,
        encoders={"image": PairEncoder(16), "frames": FeatureEncoder((3, 3, 3), 16)},
    )
    assert net.num_tokens == {"image": 2, "caption": 4, "frames": 1}
    assert net.per_token["image/velocity"]  # (2,) starts with the encoder's 2 tokens
    out = net(points(), times())
    assert out["image/velocity"].shape == (B, 2) and out["caption/logits"].shape == (B, 4, 6)


def test_construction_errors():
    with pytest.raises(ValueError, match="names no factor"):
        MultimodalTransformer(SPACE, {"sound/logits": (3,)}, d_model=16, num_heads=2)
    with pytest.raises(ValueError, match="'factor/head'"):
        MultimodalTransformer(SPACE, {"velocity": (2,)}, d_model=16, num_heads=2)
    with pytest.raises(ValueError, match="at least one"):
        MultimodalTransformer(SPACE, {}, d_model=16, num_heads=2)
    with pytest.raises(ValueError, match="must divide"):
        MultimodalTransformer(SPACE, HEADS, d_model=10, num_heads=4)
    with pytest.raises(TypeError, match="ProductSpace"):
        MultimodalTransformer(EuclideanSpace(2), {"x/velocity": (2,)})
    with pytest.raises(ValueError, match="name no leaf factor"):
        make(encoders={"sound": FeatureEncoder(2, 16)})
    with pytest.raises(ValueError, match="num_tokens"):
        make(encoders={"image": nn.Linear(2, 16)})


def test_input_errors():
    net = make()
    x, t = points(), times()
    with pytest.raises(ValueError, match="x_t has factors"):
        net({k: v for k, v in x.items() if k != "image"}, t)
    with pytest.raises(TypeError, match="x_t must be a dict"):
        net(x["image"], t)
    with pytest.raises(ValueError, match=r"x_t\['image'\] must have shape \(batch, 2\)"):
        net(x | {"image": torch.zeros(B, 3)}, t)
    with pytest.raises(TypeError, match=r"x_t\['caption'\] must be int64"):
        net(x | {"caption": x["caption"].float()}, t)
    with pytest.raises(TypeError, match=r"x_t\['frames'\] must have a floating dtype"):
        net(x | {"frames": x["frames"].long()}, t)
    with pytest.raises(ValueError, match="disagree on the batch size"):
        net(x | {"image": torch.zeros(B + 1, 2)}, t)
    with pytest.raises(ValueError, match=r"^t has factors"):
        net(x, {k: v for k, v in t.items() if k != "frames"})
    with pytest.raises(ValueError, match=rf"t\['image'\] must have shape \({B},\)"):
        net(x, t | {"image": torch.rand(B + 1)})
    with pytest.raises(TypeError, match="floating tensor of times"):
        net(x, 0.5)
    with pytest.raises(ValueError, match=r"returned \(5, 2, 16\), expected \(5, 1, 16\)"):
        bad = PairEncoder(16)
        bad.num_tokens = 1
        make(encoders={"image": bad})(x, t)


def test_learns_a_label_from_the_point_across_modalities(one_thread, quadrant_accuracy):
    """The caption head must read the image factor: label = quadrant of the point."""
    space = ProductSpace({"x": EuclideanSpace(2), "label": DiscreteSpace(1, 4, mask=True)})
    torch.manual_seed(0)
    net = MultimodalTransformer(
        space, {"label/logits": (1, 5)}, d_model=16, num_heads=2, num_layers=1, time_dim=8
    )
    accuracy, _ = quadrant_accuracy(net, steps=200, batch_size=64, lr=1e-2)
    assert accuracy > 0.9  # chance is 0.25; seeds 0-2 reach 0.95-0.97
