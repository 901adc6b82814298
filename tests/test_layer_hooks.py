"""Layer sweeps read each layer's output as the model produced it, pooled as asked.

The layers here have outputs of rank 4 (a convolution), 3 (tokens) and 2 (a linear head), and
each is followed by a ``ReLU(inplace=True)`` that rewrites it once the hook has run. The
expected features are computed by running the model's parts by hand and pooling with torch.
"""

import pytest
import torch
from torch import nn

from manifold import profile
from manifold.embed import Embedder


class TokenNet(nn.Module):
    """conv (N, 4, H, W) -> tokens (N, T, 5) -> head (N, 3) -> out (N, 2), in-place ReLUs."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.tokens = nn.Linear(4, 5)
        self.act2 = nn.ReLU(inplace=True)
        self.head = nn.Linear(5, 3)
        self.act3 = nn.ReLU(inplace=True)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        h = self.act(self.conv(x))
        t = self.act2(self.tokens(h.flatten(2).transpose(1, 2)))
        return self.out(self.act3(self.head(t.mean(1))))

    @torch.no_grad()
    def by_hand(self, x):
        """Every hooked layer's output before the in-place ReLU after it changes it."""
        conv = self.conv(x)
        tokens = self.tokens(torch.relu(conv).flatten(2).transpose(1, 2))
        head = self.head(torch.relu(tokens).mean(1))
        return {"conv": conv, "tokens": tokens, "head": head, "out": self.out(torch.relu(head))}


def first_token_times_two(features):
    return features.reshape(features.shape[0], -1)[:, :3] * 2


POOLED = {
    "auto": lambda f: f if f.ndim == 2 else f.mean(dim=(1,) if f.ndim == 3 else (2, 3)),
    "avg": lambda f: f if f.ndim == 2 else f.mean(dim=(1,) if f.ndim == 3 else (2, 3)),
    "max": lambda f: f if f.ndim == 2 else f.amax(dim=(1,) if f.ndim == 3 else (2, 3)),
    "flatten": lambda f: f.reshape(f.shape[0], -1),
    "cls": lambda f: f if f.ndim == 2 else f[:, 0],
    first_token_times_two: first_token_times_two,
}


@pytest.fixture(scope="module")
def images():
    return torch.rand(10, 3, 6, 6, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("pool", list(POOLED), ids=lambda p: p if isinstance(p, str) else "fn")
def test_every_pool_of_a_sweep_equals_pooling_each_layer_by_hand(images, pool):
    model = TokenNet()
    layers = ["tokens", "head"] if pool == "cls" else ["conv", "tokens", "head", "out"]
    sweep = Embedder(model, layers=layers, pool=pool, batch_size=4, progress=False)
    got = sweep.embed(images)
    hand = model.by_hand(images)
    for name in layers:
        expected = POOLED[pool](hand[name])
        torch.testing.assert_close(got[name], expected, rtol=1e-6, atol=1e-6, msg=name)
        one = Embedder(model, layer=name, pool=pool, batch_size=4, progress=False)
        torch.testing.assert_close(got[name], one.embed(images), rtol=0, atol=0, msg=name)
    # the case discriminates: read after the in-place ReLU, some layer would pool otherwise
    rewritten = [n for n in layers if n != "out"]
    assert any(not torch.equal(POOLED[pool](hand[n]), POOLED[pool](torch.relu(hand[n])))
               for n in rewritten)  # fmt: skip


@pytest.mark.parametrize("pool", ["max", "flatten"])
def test_views_of_a_sweep_are_pooled_as_asked(images, pool):
    model = TokenNet()
    layers = ["conv", "head"]
    sweep = Embedder(model, layers=layers, pool=pool, batch_size=7, progress=False)
    views = sweep.embed_views(images, "flip", n_views=2, seed=5)
    for name in layers:
        one = Embedder(model, layer=name, pool=pool, batch_size=7, progress=False)
        expected = one.embed_views(images, "flip", n_views=2, seed=5)
        torch.testing.assert_close(views[name], expected, rtol=0, atol=0, msg=name)
    # flipped views pooled by hand: the first view of each image
    from manifold import views as draw_views

    drawn = torch.as_tensor(draw_views(images, "flip", n_views=2, seed=5))
    hand = model.by_hand(drawn[:, 0])
    torch.testing.assert_close(views["conv"][:, 0], POOLED[pool](hand["conv"]), rtol=1e-6,
                               atol=1e-6)  # fmt: skip


def test_a_sweeps_profile_reads_two_dimensional_layers_before_the_in_place_relu(images):
    model = TokenNet()
    kwargs = dict(families=None, k=3, progress=False)
    swept = profile(model, images, layers=["tokens", "head"], **kwargs)
    hand = model.by_hand(images)
    for name, z in (("tokens", hand["tokens"].mean(1)), ("head", hand["head"])):
        alone = profile(z, **kwargs)
        for metric in ("rankme", "effective_rank", "twonn_dimension"):
            assert swept.value(metric, layer=name) == pytest.approx(alone.value(metric)), (
                name, metric)  # fmt: skip
    assert swept.settings["model"]["dims"] == {"tokens": 5, "head": 3}


def test_a_layer_that_runs_twice_is_read_at_its_first_call(images):
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.block = nn.Linear(4, 4)
            self.after = nn.Linear(4, 2)

        def forward(self, x):
            h = x.mean((2, 3)).repeat(1, 2)[:, :4]
            return self.after(self.block(self.block(h)))

    model = Twice()
    got = Embedder(model, layers=["block", "after"], progress=False).embed(images)
    with torch.no_grad():
        h = images.mean((2, 3)).repeat(1, 2)[:, :4]
        first = model.block(h)
        torch.testing.assert_close(got["block"], first)
        torch.testing.assert_close(got["after"], model.after(model.block(first)))
