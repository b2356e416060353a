"""Per-factor encoders: token counts, what each token sees, and clear errors."""

import geoopt
import pytest
import torch

from genmatch.manifolds import SO3, Hypersphere
from genmatch.nn import FeatureEncoder, TokenEncoder, default_encoder
from genmatch.spaces import DiscreteSpace, EuclideanSpace, ManifoldSpace, ProductSpace, TensorSpace


def test_token_encoder_is_embedding_plus_position():
    enc = TokenEncoder(length=3, num_states=5, d_model=8)
    x = torch.tensor([[0, 4, 2], [4, 4, 4]])
    h = enc(x)
    assert h.shape == (2, 3, 8) and enc.num_tokens == 3
    torch.testing.assert_close(h, enc.token.weight[x] + enc.position)
    # the same token at two positions gets two different encodings
    assert not torch.allclose(h[1, 0], h[1, 1])


def test_token_encoder_errors():
    enc = TokenEncoder(3, 5, 8)
    with pytest.raises(TypeError, match="int64"):
        enc(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        enc(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"outside \[0, 5\): found 5"):
        enc(torch.tensor([[0, 5, 1]]))


def test_feature_encoder_chunks_the_flat_point():
    enc = FeatureEncoder(7, d_model=4, num_tokens=3)  # chunks of 3, last one padded by 2
    assert (enc.chunk, enc.pad) == (3, 2)
    x = torch.randn(2, 7)
    h = enc(x)
    padded = torch.cat([x, torch.zeros(2, 2)], 1).reshape(2, 3, 3)
    torch.testing.assert_close(h, enc.linear(padded) + enc.position)
    # token k depends only on its own chunk
    y = x.clone()
    y[:, 6] += 1.0
    g = enc(y)
    torch.testing.assert_close(g[:, :2], h[:, :2])
    assert not torch.allclose(g[:, 2], h[:, 2])


def test_feature_encoder_one_token_has_no_position():
    enc = FeatureEncoder((2, 3), d_model=4)
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(enc(x), enc.linear(x.reshape(5, 1, 6)))


def test_feature_encoder_errors():
    enc = FeatureEncoder((3, 3), d_model=4)
    with pytest.raises(TypeError, match="floating"):
        enc(torch.zeros(2, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(batch, 3, 3\)"):
        enc(torch.zeros(2, 9))
    with pytest.raises(ValueError, match="num_tokens must be <="):
        FeatureEncoder(4, d_model=4, num_tokens=5)
    with pytest.raises(ValueError, match="event_shape"):
        FeatureEncoder((0, 3), d_model=4)


def test_default_encoder_dispatch():
    so3_power = default_encoder(ManifoldSpace(SO3(), (3, 3, 3)), 8)
    assert isinstance(so3_power, FeatureEncoder) and so3_power.num_tokens == 3
    assert so3_power.chunk == 9  # one token per rotation, its 9 ambient coordinates
    sphere = default_encoder(ManifoldSpace(Hypersphere(3), (3,)), 8)
    assert sphere.num_tokens == 1 and sphere.chunk == 3
    product_manifold = geoopt.ProductManifold((Hypersphere(3), 3), (Hypersphere(2), 2))
    assert default_encoder(ManifoldSpace(product_manifold, (5,)), 8).num_tokens == 1
    euclid = default_encoder(EuclideanSpace((4, 4)), 8)
    assert isinstance(euclid, FeatureEncoder) and euclid.num_tokens == 1
    tokens = default_encoder(DiscreteSpace(6, 3, mask=True), 8)
    assert isinstance(tokens, TokenEncoder) and tokens.num_tokens == 6
    assert tokens.num_states == 4


@pytest.mark.parametrize(
    "space", [TensorSpace(), ProductSpace({"a": EuclideanSpace(2)})], ids=["tensor", "product"]
)
def test_default_encoder_refuses_other_spaces(space):
    with pytest.raises(TypeError, match="pass one explicitly"):
        default_encoder(space, 8)
