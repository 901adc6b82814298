"""One Settings for every driver, the defaults they share, and the names that moved.

Every driver records its settings through :class:`manifold.settings.Settings`, and
:meth:`Profile.mismatched_settings` reads them back through it; profile and profile_zoo on the
same model record the same settings; ``settings["se"]`` says what the ``"se"`` rows are.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import manifold
from manifold import Monitor, Profile, profile, profile_large, profile_zoo
from manifold.results import COLUMNS
from manifold.settings import (
    COMPARABLE_SETTINGS,
    DEFAULT_N_VIEWS,
    RANKME_MAX_SAMPLES,
    Settings,
)

OPTIONS = dict(families=["flip"], n_views=2, k=4, seed=0, progress=False)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.conv = nn.Conv2d(3, 6, 3)

    def forward(self, x):
        return torch.tanh(self.conv(x - 0.5)).mean((2, 3))


@pytest.fixture(scope="module")
def images():
    return torch.rand(20, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


def test_profile_and_profile_zoo_record_the_same_settings(images, tmp_path):
    one = _quiet(profile, Net(), images, name="m", n_bootstrap=2, **OPTIONS)
    zoo = _quiet(profile_zoo, {"m": Net()}, images, checkpoint_dir=tmp_path, n_bootstrap=2,
                 **OPTIONS)  # fmt: skip
    a, b = one.settings["m"], zoo.settings["m"]
    # the zoo keys its checkpoints; the wall time differs from run to run
    assert set(b) - set(a) == {"fingerprint"} and set(a) == set(b) - {"fingerprint"}
    for key in set(a) - {"seconds"}:
        assert a[key] == b[key], key
    assert a["dim"] == 6 and a["device"] == "cpu" and a["n_bootstrap"] == 2
    assert a["se"] == Settings.bootstrap_se(2) and a["se"].startswith("bootstrap over images")
    # read back through Settings, as mismatched_settings reads them
    assert Settings.from_dict(a).to_dict() == a
    renamed = Profile(zoo.table.assign(model="z"), {"z": b})
    assert Profile.concat([one, renamed]).mismatched_settings() == {}
    # a sweep records the layers it resolved, whichever driver resolved them
    sweep = _quiet(profile, Net(), images, name="m", layers="*", **OPTIONS)
    zoo_sweep = _quiet(profile_zoo, {"m": Net()}, images, layers="*", **OPTIONS)
    assert sweep.settings["m"]["layers"] == zoo_sweep.settings["m"]["layers"] == ["conv"]
    assert sweep.settings["m"]["dims"] == zoo_sweep.settings["m"]["dims"] == {"conv": 6}


def test_every_driver_records_the_versions_and_what_se_means(images, tmp_path):
    z = np.random.default_rng(0).normal(size=(60, 12))
    large = profile_large(z, n_anchors=30, k=5)
    plain = _quiet(profile, z, k=5, progress=False)
    for settings in (large.settings["model"], plain.settings["model"]):
        assert settings["version"] == manifold.__version__
        assert settings["metrics_version"] == manifold.engine.METRICS_VERSION
        assert Settings.from_dict(settings).to_dict() == settings
    assert plain.settings["model"]["se"] is None  # no bootstrap: no "se" rows
    assert "se" not in set(plain.table["statistic"])
    se = large.settings["model"]["se"]
    assert se.startswith("anchor sampling") and "se" in set(large.table["statistic"])
    # each anchor-estimated metric's estimator comes from its registry entry
    estimators = large.settings["model"]["estimators"]
    assert (
        set(estimators)
        == {m.name for m in manifold.engine.REGISTRY if m.anchors is not None}
        == set(large.table["metric"]) - {"alpha_r2"}
    )


def test_mismatched_settings_read_through_settings():
    table = pd.DataFrame(columns=COLUMNS)
    settings = {
        "a": Settings("embeddings", 50, 10, 20, 0, None, 2, "1", n_views=3).to_dict(),
        "b": {
            **Settings("embeddings", 50, 10, 20, 0, None, 2, "1", n_views=4).to_dict(),
            "sha256": "x",
        },  # fmt: skip
        "old": {"n_images": 50, "k": 10},  # written before metrics_version and layers
        "none": {},  # nothing recorded: not compared
    }
    mismatch = Profile(table, settings).mismatched_settings()
    assert mismatch == {
        "n_views": {"3": ["a"], "4": ["b"]},
        "metrics_version": {"2": ["a", "b"], "1": ["old"]},
    }
    # a key that is not a field is compared from the settings' extra keys
    assert Profile(table, settings).mismatched_settings("sha256") == {}
    assert Settings.from_dict(settings["b"]).extra == {"sha256": "x"}
    assert set(COMPARABLE_SETTINGS) <= {f for f in Settings.__dataclass_fields__}


def test_one_default_for_the_rankme_row_cap_and_the_views():
    import inspect

    for function in (manifold.rankme, profile, profile_zoo, profile_large, Monitor):
        default = inspect.signature(function).parameters["max_samples"].default
        assert default == RANKME_MAX_SAMPLES == 25600, function
    for function in (profile, profile_zoo):
        assert inspect.signature(function).parameters["n_views"].default == DEFAULT_N_VIEWS
    assert manifold.profiling.DEFAULT_N_VIEWS == DEFAULT_N_VIEWS == 16


def test_the_other_n_views_defaults_warn_before_they_change(images):
    from manifold.embed import Embedder

    embedder = Embedder(Net(), progress=False)
    cases = [
        (lambda **kw: embedder.embed_views(images, "flip", **kw), 8),
        (lambda **kw: Monitor(images, families="flip", k=4, **kw), 4),
    ]
    for call, was in cases:
        with pytest.warns(FutureWarning, match=f"n_views will default to 16.*it is {was} now"):
            implicit = call()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            explicit = call(n_views=was)
        if isinstance(implicit, Monitor):
            assert implicit.n_views == explicit.n_views == was
        else:
            assert implicit.shape[1] == was
            assert torch.equal(implicit, explicit)
    # a Monitor that draws no views does not warn about their number
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Monitor(images, metrics="rankme", families=None, k=4)


def test_drawn_views_default_to_profiles_number(images):
    """draw_views and its siblings are new names: they take profile's default at once, while
    the deprecated views/iter_views keep their 8 views until they are removed."""
    from manifold.augment import draw_view_chunks, draw_views, draw_views_with_params, views
    from manifold.settings import DEFAULT_N_VIEWS

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drawn = draw_views(images, "flip")
        chunk = next(draw_view_chunks(images, "flip"))[1]
        with_params, _ = draw_views_with_params(images, "flip")
    assert drawn.shape[1] == chunk.shape[1] == with_params.shape[1] == DEFAULT_N_VIEWS == 16
    with pytest.warns(DeprecationWarning, match="use draw_views"):
        old = views(images, "flip")
    assert old.shape[1] == 8
    assert torch.equal(old, draw_views(images, "flip", n_views=8))


def test_views_keyword_of_profile_is_deprecated():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(40, 6))
    v = z[:, None] + 0.1 * rng.normal(size=(40, 3, 6))
    new = _quiet(profile, z, view_embeddings={"crop": v}, k=5, progress=False)
    with pytest.warns(DeprecationWarning, match=r"profile\(views=\) is deprecated"):
        old = profile(z, views={"crop": v}, k=5, progress=False)
    pd.testing.assert_frame_equal(old.table, new.table)
    with pytest.raises(TypeError, match="not both"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        profile(z, views={"crop": v}, view_embeddings={"crop": v}, k=5, progress=False)


def test_names_that_moved_are_still_where_they_were():
    from manifold import augment, engine, profiling, results, settings

    assert profiling.check_families is augment.check_families
    assert profiling.check_views is engine.check_views
    assert profiling.images_fingerprint is augment.images_fingerprint
    assert profiling.DEFAULT_FAMILIES is settings.DEFAULT_FAMILIES
    assert results.COMPARABLE_SETTINGS is settings.COMPARABLE_SETTINGS


def test_profile_zoo_takes_a_transform_and_a_cache_dir(images, tmp_path):
    def halve(x):
        return x * 0.5

    kwargs = dict(transform=halve, **OPTIONS)
    one = _quiet(profile, Net(), images, name="m", **kwargs)
    zoo = _quiet(profile_zoo, {"m": Net()}, images, checkpoint_dir=tmp_path / "ckpt",
                 cache_dir=tmp_path / "cache", **kwargs)  # fmt: skip
    pd.testing.assert_frame_equal(zoo.table, one.table)
    assert zoo.settings["m"]["transform"] == one.settings["m"]["transform"] == halve.__qualname__
    assert list((tmp_path / "cache").iterdir()), "the embeddings are cached in cache_dir"
    assert not (tmp_path / "ckpt" / "embeddings").exists()
    # without the transform the checkpoints are not those of the transformed run
    plain = _quiet(profile_zoo, {"m": Net()}, images, checkpoint_dir=tmp_path / "ckpt",
                   **OPTIONS)  # fmt: skip
    direct = _quiet(profile, Net(), images, name="m", **OPTIONS)
    pd.testing.assert_frame_equal(plain.table, direct.table)
    assert not np.allclose(plain.table["value"], zoo.table["value"])
