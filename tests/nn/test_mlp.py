import pytest
import torch

from genmatch import MLP, EuclideanSpace, SinusoidalTimeEmbedding


def test_heads_shapes_and_split():
    space = EuclideanSpace((2, 3))
    net = MLP(space, {"velocity": (2, 3), "rate": (4,), "scalar": ()}, hidden=16, depth=2)
    out = net(torch.randn(5, 2, 3), torch.rand(5))
    assert (
        out["velocity"].shape == (5, 2, 3)
        and out["rate"].shape == (5, 4)
        and out["scalar"].shape == (5,)
    )


def test_float64_and_time_dependence():
    net = MLP(EuclideanSpace(2), {"velocity": (2,)}, hidden=16).double()
    x = torch.randn(3, 2, dtype=torch.float64)
    a = net(x, torch.zeros(3, dtype=torch.float64))["velocity"]
    b = net(x, torch.ones(3, dtype=torch.float64))["velocity"]
    assert a.dtype == torch.float64 and not torch.allclose(a, b)


def test_embedding_values():
    emb = SinusoidalTimeEmbedding(8)
    e = emb(torch.tensor([0.0, 0.5]))
    assert e.shape == (2, 8)
    torch.testing.assert_close(e[0], torch.cat([torch.zeros(4), torch.ones(4)]))


def test_bad_inputs():
    net = MLP(EuclideanSpace(2), {"velocity": (2,)}, hidden=8)
    with pytest.raises(ValueError, match="x_t must be"):
        net(torch.zeros(3, 3), torch.zeros(3))
    with pytest.raises(ValueError, match="t must have shape"):
        net(torch.zeros(3, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="even"):
        SinusoidalTimeEmbedding(7)
    with pytest.raises(ValueError, match="head"):
        MLP(EuclideanSpace(2), {}, hidden=8)


def test_any_floating_event_shape():
    from genmatch.manifolds import SO3
    from genmatch.spaces import DiscreteSpace, ManifoldSpace, ProductSpace

    frames = ManifoldSpace(SO3(), (4, 3, 3))
    net = MLP(frames, {"velocity": (4, 3, 3)}, hidden=8)
    x = SO3().random_uniform_points(8).reshape(2, 4, 3, 3)
    assert net(x, torch.rand(2))["velocity"].shape == (2, 4, 3, 3)
    assert net.layers[0].in_features == 36 + 32
    # an event shape works as the space, and gives the same network as its EuclideanSpace
    torch.manual_seed(0)
    a = MLP((2, 3), {"v": (6,)}, hidden=8)
    torch.manual_seed(0)
    b = MLP(EuclideanSpace((2, 3)), {"v": (6,)}, hidden=8)
    x, t = torch.randn(3, 2, 3), torch.rand(3)
    torch.testing.assert_close(a(x, t)["v"], b(x, t)["v"])
    with pytest.raises(TypeError, match="floating"):
        net(x.long(), torch.rand(3))
    with pytest.raises(ValueError, match="x_t must be"):
        net(torch.zeros(2, 36), torch.rand(2))
    with pytest.raises(TypeError, match="SequenceTransformer"):
        MLP(DiscreteSpace(3, 2), {"logits": (3, 2)})
    with pytest.raises(TypeError, match="ProductMLP"):
        MLP(ProductSpace({"a": EuclideanSpace(2)}), {"a/velocity": (2,)})
    with pytest.raises(ValueError, match="event_shape"):
        MLP((0, 2), {"v": (2,)})
