"""What a new user with their own data hits (issue 17): strict parameters, model outputs, devices.

Each test names the problem it pins; each failed on the code before the fix (a silent wrong
answer, a failure hidden in ``Profile.failures``, or a raw error from deep inside torch).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from manifold import profile
from manifold._backend import resolve_device
from manifold.embed import Embedder, check_channels_first, select_output
from manifold.profiling import check_families
from manifold.runner import load_model, profile_zoo


def _images(n: int = 40) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def _conv() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(16))


class TwoHeads(nn.Module):
    """A model whose forward returns (logits, features), as many classifiers do."""

    def __init__(self, as_dict: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(6, 2)
        self.as_dict = as_dict

    def forward(self, x):
        features = self.body(x).flatten(1)
        logits = self.head(features)
        return {"logits": logits, "features": features} if self.as_dict else (logits, features)


def _embeddings():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((30, 4)).astype(np.float32)
    views = (z[:, None, :] + 0.1 * rng.standard_normal((30, 3, 4))).astype(np.float32)
    return z, views


# -- families -------------------------------------------------------------------------------


def test_a_single_family_name_is_one_family():
    # before: "crop" was split into the families 'c', 'r', 'o', 'p', all recorded as failures
    prof = profile(_conv(), _images(), families="crop", n_views=2, k=5, progress=False)
    assert set(prof.table["manifold"]) == {"semantic", "crop"}
    assert prof.settings["model"]["families"] == ["crop"]
    assert not [f for f in prof.failures if f["manifold"] != "semantic"]


def test_unknown_family_raises_at_the_call():
    # before: the unknown family landed in prof.failures without a word
    with pytest.raises(ValueError, match="unknown augmentation family 'crops'.*crop, color"):
        profile(_conv(), _images(), families=["crops"], n_views=2, k=5, progress=False)


def test_check_families_accepts_modules_and_callables_and_rejects_others():
    def jitter(x, generator):
        return x

    assert list(check_families(["flip", jitter])) == ["flip", "jitter"]
    with pytest.raises(TypeError, match="each family must be"):
        check_families(["flip", 3])
    with pytest.raises(ValueError, match="given twice"):
        check_families(["flip", "flip"])


# -- views ----------------------------------------------------------------------------------


def test_views_that_are_not_a_mapping_raise():
    z, v = _embeddings()
    # before: a list of views was accepted and every family failed quietly (or a raw error)
    with pytest.raises(TypeError, match="views must be a mapping"):
        profile(z, view_embeddings=[v], k=5, progress=False)


def test_views_of_the_wrong_shape_raise():
    z, v = _embeddings()
    # before: recorded in prof.failures as metric "views"; the profile looked fine
    with pytest.raises(ValueError, match=r"views\['crop'\] has shape \(29, 3, 4\)"):
        profile(z, view_embeddings={"crop": v[:29]}, k=5, progress=False)


def test_embeddings_profile_records_the_settings_used():
    z, v = _embeddings()
    plain = profile(z, k=5, progress=False).settings["model"]
    # before: an embeddings-only profile recorded n_views: 16, and the MLE's k was not recorded
    assert plain["n_views"] is None
    assert plain["k_mle"] == 20
    with_views = profile(z, view_embeddings={"crop": v}, k=5, progress=False).settings["model"]
    assert with_views["n_views"] == 3


def test_model_arguments_with_embeddings_warn():
    z, _ = _embeddings()
    # before: device="cuda" (or a layer) with embeddings was silently ignored
    with pytest.warns(UserWarning, match="device, layer|layer, device"):
        profile(z, k=5, progress=False, layer="x", device="cpu")


def test_each_failure_also_warns():
    def broken(x, generator):
        raise RuntimeError("this augmentation is broken")

    with pytest.warns(UserWarning, match="broken/views not computed: this augmentation"):
        prof = profile(_conv(), _images(), families=[broken], n_views=2, k=5, progress=False)
    assert [f["metric"] for f in prof.failures] == ["views"]


def test_profile_zoo_checks_its_parameters():
    with pytest.raises(ValueError, match="unknown augmentation family 'rot'"):
        profile_zoo({"m": _conv()}, _images(), families=["rot"], progress=False)
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        profile_zoo({"m": _conv()}, _images(), device="gpu", progress=False)
    prof = profile_zoo({"m": _conv()}, _images(), families="flip", n_views=2, k=5, progress=False)
    assert set(prof.table["manifold"]) == {"semantic", "flip"}


# -- devices --------------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["gpu", "GPU0", "tpu"])
def test_unknown_device_is_one_clear_error(device):
    with pytest.raises(ValueError, match=f"unknown device '{device}'; expected auto, cpu"):
        resolve_device(device)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_mps_without_mps_is_one_clear_error():
    # before: a raw torch error from deep inside .to()
    with pytest.raises(ValueError, match="MPS .* is not available here"):
        profile(_conv(), _images(), families="flip", n_views=2, k=5, device="mps")


def test_load_model_accepts_auto():
    # before: runner.load_model called model.to("auto") -> RuntimeError
    model = load_model(_conv(), device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(model.parameters()).device.type == expected


# -- model outputs ----------------------------------------------------------------------------


def test_tuple_output_warns_and_output_selects():
    images = _images()
    model = TwoHeads()
    # before: the logits (item 0) were profiled without a word
    with pytest.warns(UserWarning, match=r"tuple of 2 items .*using item 0.*output="):
        first = Embedder(model, progress=False).embed(images)
    assert first.shape == (40, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chosen = Embedder(model, progress=False, output=1).embed(images)
    assert chosen.shape == (40, 6)
    prof = profile(model, images, families="flip", n_views=2, k=5, output=1, progress=False)
    assert prof.settings["model"]["output"] == 1
    assert prof.settings["model"]["dim"] == 6


def test_dict_output_by_key_and_bad_keys():
    out = TwoHeads(as_dict=True)(_images(4))
    assert select_output(out, "features").shape == (4, 6)
    with pytest.raises(ValueError, match=r"'feats' is not a key .*\['logits', 'features'\]"):
        select_output(out, "feats")
    with pytest.raises(ValueError, match="out of range"):
        select_output((out["logits"],), 3)
    with pytest.raises(ValueError, match="single tensor"):
        select_output(out["logits"], 0)


def test_channels_last_images_say_how_to_fix():
    images = _images().permute(0, 2, 3, 1).contiguous()  # (N, H, W, 3)
    # before: a raw conv error twelve frames deep
    with pytest.raises(ValueError, match=r"channels-last .*permute\(0, 3, 1, 2\)"):
        Embedder(_conv(), progress=False).embed(images)
    with pytest.raises(ValueError, match="channels-last"):
        check_channels_first(images.numpy())
    check_channels_first(_images())  # channels-first passes


# -- collapse ---------------------------------------------------------------------------------


def _collapsed_metrics():
    from manifold import graphs, metrics, spectral

    def nnk(z):
        return graphs.nnk_graph(z, k=6)

    return {
        "participation_ratio": spectral.participation_ratio,
        "nesum": spectral.nesum,
        "alpha": lambda z: spectral.alpha(z).alpha,
        "twonn_dimension": metrics.twonn_dimension,
        "mle_dimension": lambda z: metrics.mle_dimension(z, k=8),
        "nnk_diameter": lambda z: metrics.nnk_diameter(z, k=6, scale="knn").summary.mean,
        "ollivier_ricci": lambda z: next(
            iter(metrics.ollivier_ricci(nnk(z), scale="knn").edges(data=True))
        )[2]["ricci_curvature"],
        "forman_ricci": lambda z: next(
            iter(metrics.forman_ricci(nnk(z), scale="knn").edges(data=True))
        )[2]["forman_curvature"],
        "spread_ratio": lambda z: (
            metrics.spread_ratio(z, np.repeat(z[:, None], 3, axis=1), k=5).summary.mean
        ),
    }


@pytest.mark.parametrize("name", list(_collapsed_metrics()))
def test_collapsed_embeddings_give_nan_with_a_warning(name):
    import manifold

    z = np.tile(np.array([[0.3, -1.7, 2.0, 0.1]], dtype=np.float32), (30, 1))
    # before: participation_ratio, nesum, alpha, the dimensions, the curvatures and the spread
    # ratio raised ValueError on a collapsed representation, while rankme returned 1.0
    with pytest.warns(manifold.DegenerateWarning):
        assert np.isnan(_collapsed_metrics()[name](z))


def test_a_sweep_over_checkpoints_survives_the_collapsed_one():
    import manifold

    rng = np.random.default_rng(0)
    sweep = [rng.standard_normal((30, 6)), np.ones((30, 6)), rng.standard_normal((30, 6))]
    ratios = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", manifold.DegenerateWarning)
        for z in sweep:
            ratios.append(manifold.participation_ratio(z))
    assert np.isfinite(ratios[0]) and np.isnan(ratios[1]) and np.isfinite(ratios[2])
    with pytest.warns(UserWarning, match="participation_ratio not computed: the centered"):
        prof = profile(np.ones((30, 6)), k=5, progress=False)
    assert not prof.table["value"].isna().any()
    assert "participation_ratio" in {f["metric"] for f in prof.failures}


# -- quiet output -----------------------------------------------------------------------------


def test_quiet_outside_a_terminal_and_one_bar_at_a_time(capsys):
    images = _images()
    # before: progress defaulted to True and drew the profile's, the embedder's and the views'
    # bars, nested, even into a log file
    profile(_conv(), images, families=["flip"], n_views=2, k=5, batch_size=8)
    assert capsys.readouterr().err == ""
    profile(_conv(), images, families=["flip"], n_views=2, k=5, batch_size=8, progress=True)
    err = capsys.readouterr().err
    assert "profile model" in err
    assert "embed" not in err and "views (" not in err
