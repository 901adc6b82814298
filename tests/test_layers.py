"""Layer sweeps: several layers from one forward pass per batch (Embedder, profile, zoo)."""

import pandas as pd
import pytest
import torch
from torch import nn

import manifold.embed as embed_module
from manifold import Profile, profile, profile_zoo
from manifold.embed import Embedder, select_layers

FAMILIES = ["crop", "color"]


class Net(nn.Module):
    """A small conv net that counts its forward calls and those of its head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(inplace=True),  # rewrites the batch norm's output in place
            nn.Conv2d(6, 5, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(5, 4)
        self.calls = 0
        self.head_calls = 0
        self.head.register_forward_hook(lambda *_: setattr(self, "head_calls", self.head_calls + 1))

    def forward(self, x):
        self.calls += 1
        return self.head(self.features(x).mean((2, 3)))


class Pair(nn.Module):
    def forward(self, x):
        return x * 2, x.mean()


class Keyed(nn.Module):
    def forward(self, x):
        return {"tokens": x + 1, "extra": x}


class TupleNet(nn.Module):
    """A block whose output is a tuple, and one whose output is a dict."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 4, 3)
        self.pair = Pair()
        self.keyed = Keyed()

    def forward(self, x):
        h, _ = self.pair(self.conv(x))
        return self.keyed(h)["tokens"].mean((2, 3))


@pytest.fixture()
def images():
    return torch.rand(30, 3, 12, 12, generator=torch.Generator().manual_seed(0))


LAYERS = ["features.1", "features.3", "features.0"]  # not in depth order on purpose


def test_sweep_embeddings_equal_one_layer_embedders(images):
    model = Net()
    sweep = Embedder(model, layers=LAYERS, batch_size=8, progress=False)
    z = sweep.embed(images)
    v = sweep.embed_views(images, "crop", n_views=3, seed=4)
    assert list(z) == list(v) == LAYERS
    for layer in LAYERS:
        one = Embedder(model, layer=layer, batch_size=8, progress=False)
        # features.1 is read before the in-place ReLU changes it, as the one-layer hook reads it
        assert torch.equal(z[layer], one.embed(images))
        assert torch.equal(v[layer], one.embed_views(images, "crop", n_views=3, seed=4))


def test_one_forward_per_batch_whatever_the_number_of_layers(images):
    model = Net()
    sweep = Embedder(model, layers=LAYERS, batch_size=8, progress=False)
    model.calls = 0
    sweep.embed(images)
    assert model.calls == 4  # ceil(30 / 8), not 4 per layer
    model.calls = 0
    sweep.embed_views(images, "crop", n_views=4, seed=0)
    assert model.calls == 15  # 30 images x 4 views in batches of 8: the same as one layer
    # the pass stops after the deepest requested layer: the head never ran
    assert model.head_calls == 0
    with_head = Embedder(model, layers=["features.0", "head"], batch_size=8, progress=False)
    model.calls = 0
    assert with_head.embed(images)["head"].shape == (30, 4)
    assert model.calls == 4 and model.head_calls == 4


def test_views_are_drawn_once_for_all_layers(images, monkeypatch):
    drawn = []
    real = embed_module.draw_view_chunks

    def counting(*args, **kwargs):
        drawn.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(embed_module, "draw_view_chunks", counting)
    profile(Net(), images, families=FAMILIES, n_views=3, k=4, layers=LAYERS, progress=False)
    assert drawn == FAMILIES


def test_sweep_profile_equals_profiling_each_layer(images):
    model = Net()
    kwargs = dict(families=FAMILIES, n_views=3, k=5, seed=2, n_bootstrap=2, progress=False)
    sweep = profile(model, images, layers=LAYERS, name="net", batch_size=7, **kwargs)
    assert list(sweep.table.columns) == ["model", "layer", "manifold", "metric", "statistic",
                                         "value"]  # fmt: skip
    assert sweep.layers == LAYERS and sweep.models == ["net"]
    for layer in LAYERS:
        one = profile(model, images, layer=layer, name="net", batch_size=7, **kwargs)
        rows = sweep.table[sweep.table["layer"] == layer].drop(columns="layer")
        pd.testing.assert_frame_equal(rows.reset_index(drop=True), one.table, check_exact=True)
        assert sweep.value("twonn_dimension", layer=layer) == one.value("twonn_dimension")
    assert sweep.settings["net"]["layers"] == LAYERS
    assert sweep.settings["net"]["dims"] == {"features.1": 6, "features.3": 5, "features.0": 6}


def test_unknown_layers_give_one_error_listing_the_names(images):
    model = Net()
    with pytest.raises(ValueError, match=r"'features.9' is not a submodule.*did you mean") as err:
        profile(model, images, layers=["features.0", "features.9"], progress=False)
    message = str(err.value)
    assert "features.4" in message and "head" in message and "'all'" in message
    with pytest.raises(ValueError, match="pattern 'blocks.*' matches no submodule"):
        Embedder(model, layers="blocks.*")
    with pytest.raises(ValueError, match="not both"):
        Embedder(model, layer="head", layers=["head"])
    with pytest.raises(ValueError, match="needs a model"):
        profile(torch.randn(20, 4), layers=["head"], progress=False)
    with pytest.raises(ValueError, match="layers is empty"):
        select_layers(model, [])


def test_sweeps_check_their_parameters_as_profile_does(images):
    # check_families and the other call-time checks of issue 17 apply to sweeps too
    model = Net()
    with pytest.raises(ValueError, match="unknown augmentation family 'rot'"):
        profile(model, images, families=["rot"], layers="features.*", progress=False)
    with pytest.raises(ValueError, match="family 'flip' is given twice"):
        profile(model, images, families=["flip", "flip"], layers="features.*", progress=False)
    with pytest.raises(ValueError, match="unknown augmentation family 'rot'"):
        profile_zoo({"a": model}, images, families="rot", layers="features.*", progress=False)
    with pytest.raises(TypeError, match="each layer must be a non-empty submodule name"):
        profile_zoo({"a": model}, images, families="flip", layers=["features.0", 3])
    with pytest.raises(ValueError, match="not both"):
        profile_zoo({"a": model}, images, layer="head", layers="features.*")
    one = profile(model, images, families="flip", n_views=2, k=4, layers="features.0",
                  progress=False)  # fmt: skip
    assert set(one.table["manifold"]) == {"semantic", "flip"}
    settings = one.settings["model"]
    assert settings["version"] and settings["output"] is None and settings["k_mle"] > 0


def test_mismatched_settings_know_the_layers(images):
    kwargs = dict(families="flip", n_views=2, k=4, progress=False)
    model = Net()
    sweep = profile(model, images, layers=["features.0", "features.3"], name="swept", **kwargs)
    one = profile(model, images, layer="features.3", name="one", **kwargs)
    other = profile(model, images, layers=["features.1", "features.3"], name="other", **kwargs)
    assert sweep.mismatched_settings() == {}
    mixed = Profile.concat([sweep, one]).mismatched_settings()
    assert mixed["layer"] == {"None": ["swept"], "features.3": ["one"]}
    assert mixed["layers"] == {"['features.0', 'features.3']": ["swept"], "None": ["one"]}
    assert set(Profile.concat([sweep, other]).mismatched_settings()) == {"layers"}
    with pytest.raises(ValueError, match=r"sweeps 3 layers.*to_matrix\(layer=\.\.\.\)"):
        Profile.concat([sweep, other]).to_matrix()
    with pytest.raises(KeyError, match=r"pass layer= one of \['features.0', 'features.3'\]"):
        sweep.value("rankme")


def test_select_layers_patterns_and_all():
    model = Net()
    assert select_layers(model, "all") == [f"features.{i}" for i in range(5)]
    # a pattern stays within one part of the dotted name
    assert select_layers(model, "features.*") == [f"features.{i}" for i in range(5)]
    assert select_layers(model, "*") == ["features", "head"]
    assert select_layers(model, ["head", "features.[13]", "head"]) == [
        "head",
        "features.1",
        "features.3",
    ]
    flat = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="available names"):
        select_layers(flat, "all")


def test_tuple_and_dict_outputs_follow_select_output(images):
    model = TupleNet()
    sweep = Embedder(model, layers=["pair", "keyed"], progress=False)
    with pytest.warns(UserWarning) as record:
        z = sweep.embed(images)
        sweep.embed(images[:5])  # the same Embedder does not warn again
    messages = [str(w.message) for w in record]
    assert any(m.startswith("layer 'pair': it returns a tuple of 2 items") and "using item 0" in m
               for m in messages)  # fmt: skip
    assert any(m.startswith("layer 'keyed': it returns a dict of 2 items")
               and "using key 'tokens'" in m and "output=" in m for m in messages)  # fmt: skip
    assert len(messages) == 2  # once per layer, not once per batch
    for layer in ("pair", "keyed"):
        with pytest.warns(UserWarning, match="using"):
            one = Embedder(model, layer=layer, progress=False).embed(images)
        assert torch.equal(z[layer], one)


def test_output_chooses_the_element_of_every_swept_container(images, recwarn):
    model = TupleNet()
    keyed = Embedder(model, layers=["conv", "keyed"], output="extra", progress=False)
    z = keyed.embed(images)  # conv returns a tensor, used as it is; keyed's 'extra' element
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
    one = Embedder(model, layer="keyed", output="extra", progress=False).embed(images)
    assert torch.equal(z["keyed"], one)
    assert torch.equal(z["conv"], Embedder(model, layer="conv", progress=False).embed(images))
    with pytest.raises(ValueError, match=r"layer 'pair': .*got 'extra'"):
        Embedder(model, layers=["pair", "keyed"], output="extra", progress=False).embed(images)
    with pytest.raises(ValueError, match="none of the layers"):
        Embedder(model, layers=["conv"], output=1, progress=False).embed(images)
    tuples = Embedder(model, layers=["pair"], output=1, progress=False)
    with pytest.raises(ValueError, match="layer 'pair'"):  # item 1 is a scalar: nothing to pool
        tuples.embed(images)


def test_sweep_shares_the_cache_of_one_layer_embedders(images, tmp_path):
    model = Net()
    sweep = Embedder(model, layers=LAYERS, cache_dir=tmp_path, progress=False)
    first = sweep.embed(images)
    model.calls = 0
    one = Embedder(model, layer="features.3", cache_dir=tmp_path, progress=False).embed(images)
    assert model.calls == 0 and torch.equal(one, first["features.3"])
    again = Embedder(model, layers=["features.3", "features.4"], cache_dir=tmp_path, progress=False)
    out = again.embed(images)  # one layer from the cache, the other computed
    assert model.calls == 1 and torch.equal(out["features.3"], first["features.3"])
    one_layer = Embedder(model, layer="features.3", cache_dir=tmp_path)
    assert again.cache_key(images, "crop", 2, 0, layer="features.3") == one_layer.cache_key(
        images, "crop", 2, 0
    )
    with pytest.raises(ValueError, match="name one of the Embedder's layers"):
        again.cache_key(images)


def test_matrix_value_and_save_load_of_a_sweep(images, tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3), nn.Flatten())
    sweep = profile(model, images, families=["flip"], n_views=2, k=4, layers="all", name="seq",
                    progress=False)  # fmt: skip
    assert sweep.layers == ["0", "1", "2", "3"]
    by_layer = sweep.to_matrix(by="layer")
    assert list(by_layer.index) == [("seq", layer) for layer in sweep.layers]
    one = sweep.to_matrix(layer="2")
    assert list(one.index) == ["seq"]
    # a metric that fails on one layer (alpha of 3 dimensions) is a gap in that row only
    pd.testing.assert_series_equal(
        one.loc["seq"], by_layer.loc[("seq", "2"), one.columns], check_names=False
    )
    with pytest.raises(ValueError, match=r"sweeps 4 layers.*to_matrix\(by='layer'\)"):
        sweep.to_matrix()
    with pytest.raises(ValueError, match="no layer '7' in this profile; its layers: '0'"):
        sweep.to_matrix(layer="7")
    with pytest.raises(ValueError, match="needs a layer sweep"):
        profile(torch.randn(20, 4), k=3, progress=False).to_matrix(by="layer")
    path = sweep.save(tmp_path / "sweep.csv")
    back = Profile.load(path)
    assert back.layers == ["0", "1", "2", "3"]  # names that look like numbers stay strings
    pd.testing.assert_frame_equal(back.table, sweep.table)
    other = profile(model, images, families=["flip"], n_views=2, k=4, layers=["0", "2"],
                    name="seq2", progress=False)  # fmt: skip
    both = Profile.concat([sweep, other])
    assert both.models == ["seq", "seq2"] and both.value("rankme", model="seq2", layer="2") > 0
    with pytest.raises(ValueError, match="appears in more than one profile"):
        Profile.concat([sweep, sweep])


def test_profile_zoo_sweep_equals_profile_and_resumes(images, tmp_path):
    kwargs = dict(families=["flip"], n_views=2, k=4, seed=1)
    zoo = profile_zoo({"a": Net(), "b": Net()}, images, layers="features.*",
                      checkpoint_dir=tmp_path, progress=False, **kwargs)  # fmt: skip
    assert zoo.layers == [f"features.{i}" for i in range(5)] and zoo.models == ["a", "b"]
    alone = profile(Net(), images, layers="features.*", name="a", progress=False, **kwargs)
    rows = zoo.table[zoo.table["model"] == "a"].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows, alone.table, check_exact=True)
    again = profile_zoo({"a": Net(), "b": Net()}, images, layers="features.*",
                        checkpoint_dir=tmp_path, progress=False, **kwargs)  # fmt: skip
    pd.testing.assert_frame_equal(again.table, zoo.table)
    failed = profile_zoo({"a": Net(), "flat": nn.Flatten()}, images, layers="features.0",
                         progress=False, **kwargs)  # fmt: skip
    assert failed.models == ["a"]
    (model_failure,) = [f for f in failed.failures if f["metric"] == "model"]
    assert model_failure["model"] == "flat" and "is not a submodule" in model_failure["error"]
    assert {f["layer"] for f in failed.failures if f["model"] == "a"} == {"features.0"}


def test_plot_layers_one_line_per_model_with_error_bars(images):
    from manifold.plot import plot_layers

    kwargs = dict(families=["flip"], n_views=2, k=4, layers="features.*", progress=False)
    with_se = profile(Net(), images, name="a", n_bootstrap=3, **kwargs)
    without = profile(Net(), images[:20], name="b", **kwargs)
    prof = Profile.concat([with_se, without])
    fig = plot_layers(prof, "twonn_dimension")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3", "4"]
    assert ax.get_xlabel() == "layer (features.*)"
    lines = ax.get_lines()
    assert len(ax.containers) == 2  # one errorbar container per model
    a, b = ax.containers
    assert a.has_yerr and not b.has_yerr  # standard errors only where the profile has them
    ys = a.lines[0].get_ydata()
    expected = [with_se.value("twonn_dimension", layer=f"features.{i}") for i in range(5)]
    assert list(ys) == expected and len(lines) >= 2
    assert (
        plot_layers(prof, "spread_ratio", manifold="flip")
        .axes[0]
        .get_title()
        .endswith("flip views")
    )
    with pytest.raises(ValueError, match="needs a layer sweep"):
        plot_layers(profile(torch.randn(20, 4), k=3, progress=False))
    with pytest.raises(ValueError, match="no metric 'nope'"):
        plot_layers(prof, "nope")


def test_report_shows_layers_only_for_a_sweep(images, tmp_path):
    from manifold.report import write_report

    sweep = profile(Net(), images, families=["flip"], n_views=2, k=4, layers="features.*",
                    name="net", progress=False)  # fmt: skip
    html = write_report(sweep, tmp_path / "r.html", figure_dir=tmp_path / "figs").read_text()
    assert 'id="layers"' in html
    assert (tmp_path / "figs" / "layers_twonn_dimension.png").exists()
    # the summary has one row per layer, not an average over layers
    value = sweep.value("rankme", layer="features.3")
    assert f"{value:.4g}" in html
    one = profile(Net(), images, families=["flip"], n_views=2, k=4, layers=["features.3"],
                  progress=False)  # fmt: skip
    assert 'id="layers"' not in write_report(one, tmp_path / "one.html").read_text()


def test_cli_layers(tmp_path, capsys):
    from manifold.cli import main

    (tmp_path / "net.py").write_text(
        "import torch\nfrom torch import nn\n\n\ndef make():\n    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3),\n"
        "                         nn.AdaptiveAvgPool2d(1), nn.Flatten())\n"
    )
    out = tmp_path / "out"
    common = ["profile", "--model", f"{tmp_path / 'net.py'}:make", "--data", "digits",
              "--n-images", "40", "--n-views", "3", "--k", "5", "--families", "flip",
              "--quiet", "--out", str(out)]  # fmt: skip
    assert main([*common, "--layers", "0,2"]) == 0
    prof = Profile.load(out / "profile.csv")
    assert prof.layers == ["0", "2"]
    matrix = pd.read_csv(out / "metrics_matrix.csv")
    assert list(matrix["layer"].astype(str)) == ["0", "2"]
    assert 'id="layers"' in (out / "report.html").read_text()
    assert main([*common, "--layers", "0,9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'9' is not a submodule" in err[0] and "available names" in err[0]
    assert main([*common, "--layer", "2", "--layers", "0,2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "give --layer (one submodule: '2') or --layers" in err[0]
    assert "not both" in err[0]


def test_layer_sweep_example_quick(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, str(root / "examples" / "layer_sweep.py"), "--quick", "--n-bootstrap",
         "2", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=True, env=env,
    )  # fmt: skip
    assert (tmp_path / "layers_efficientnet.png").stat().st_size > 10_000
    assert "16 layers" in out.stdout and "head, re-initialised: TwoNN" in out.stdout


def test_failures_of_a_sweep_are_warned_at_the_callers_line(images):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        profile(Net(), images, layers=LAYERS, families=FAMILIES, n_views=3, k=5, progress=False)
    failed = [w for w in caught if "not computed" in str(w.message)]  # alpha: 5-6 dimensions
    assert failed and all(w.filename == __file__ for w in failed)
