"""The aligned transformer: one token per position, per-factor times, per-position heads."""

import pytest
import torch

from genmatch.manifolds import SO3
from genmatch.nn import AlignedTransformer, FeatureEncoder
from genmatch.spaces import DiscreteSpace, EuclideanSpace, ManifoldSpace, ProductSpace

B, L = 4, 6
SPACE = ProductSpace(
    {
        "aa": DiscreteSpace(L, 20, mask=True),
        "rot": ManifoldSpace(SO3(), (L, 3, 3)),
        "x": EuclideanSpace((L, 3)),
    }
)
HEADS = {"aa/logits": (L, 21), "rot/velocity": (L, 3, 3), "x/velocity": (L, 3)}


def make(**kwargs):
    torch.manual_seed(0)
    enc = {"x": FeatureEncoder((L, 3), 16, num_tokens=L)}
    return AlignedTransformer(
        SPACE, HEADS, length=L, d_model=16, num_heads=2, num_layers=2, time_dim=8,
        encoders=enc, **kwargs,
    )  # fmt: skip


def points(seed=0):
    rng = torch.Generator().manual_seed(seed)
    return {
        "aa": torch.randint(0, 21, (B, L), generator=rng),
        "rot": SO3().random_uniform_points(B * L, generator=rng).reshape(B, L, 3, 3),
        "x": torch.randn(B, L, 3, generator=rng),
    }


def times(seed=0):
    rng = torch.Generator().manual_seed(seed + 1)
    return {k: torch.rand(B, generator=rng) for k in SPACE.names}


def test_heads_are_per_position_and_one_token_per_residue():
    net = make()
    out = net(points(), times())
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == HEADS
    assert [e.num_tokens for e in net.encoders.values()] == [L, L, L]


def test_each_factor_and_its_time_reach_every_head():
    net = make()
    x, t = points(), times()
    base = net(x, t)
    for name in SPACE.names:
        t2 = {**t, name: 1 - t[name]}
        x2 = {**x, name: points(seed=5)[name]}
        for changed in (net(x, t2), net(x2, t)):
            for key in HEADS:
                assert not torch.allclose(changed[key], base[key], atol=1e-6), (name, key)


def test_position_l_of_one_factor_reaches_other_positions_through_attention():
    net = make()
    x, t = points(), times()
    base = net(x, t)
    aa = x["aa"].clone()
    aa[:, 0] = (aa[:, 0] + 1) % 21
    out = net({**x, "aa": aa}, t)
    assert not torch.allclose(out["x/velocity"][:, -1], base["x/velocity"][:, -1], atol=1e-6)


def test_bad_configurations_raise():
    with pytest.raises(ValueError, match=r"num_tokens 1.*expected the length 6"):
        AlignedTransformer(SPACE, HEADS, length=L, d_model=16, num_heads=2)
    enc = {"x": FeatureEncoder((L, 3), 16, num_tokens=L)}
    with pytest.raises(ValueError, match=r"head 'aa/logits' has shape \(5, 21\)"):
        AlignedTransformer(
            SPACE, {**HEADS, "aa/logits": (5, 21)}, length=L, d_model=16, num_heads=2, encoders=enc
        )
    with pytest.raises(ValueError, match="name no leaf factor"):
        AlignedTransformer(SPACE, HEADS, length=L, d_model=16, num_heads=2,
                           encoders={**enc, "y": enc["x"]})  # fmt: skip
    with pytest.raises(ValueError, match="must divide"):
        AlignedTransformer(SPACE, HEADS, length=L, d_model=15, num_heads=2, encoders=enc)
