import numpy as np
import pandas as pd
import pytest

import manifold
from manifold.profiling import SEMANTIC, Profile, profile
from manifold.results import describe_mismatch


@pytest.fixture(scope="module")
def embeddings():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(80, 12))
    views = {
        "still": np.repeat(z[:, None], 4, axis=1),
        "noisy": z[:, None] + 0.5 * rng.normal(size=(80, 4, 12)),
    }
    return z, views


@pytest.fixture(scope="module")
def prof(embeddings):
    z, views = embeddings
    return profile(z, view_embeddings=views, k=8, name="toy", progress=False)


def test_table_is_tidy_and_complete(prof):
    t = prof.table
    assert list(t.columns) == ["model", "manifold", "metric", "statistic", "value"]
    assert not t.duplicated(["model", "manifold", "metric", "statistic"]).any()
    assert set(t["manifold"]) == {SEMANTIC, "still", "noisy"}
    semantic = set(t.loc[t["manifold"] == SEMANTIC, "metric"])
    for name in (
        "rankme",
        "alpha",
        "stable_rank",
        "twonn_dimension",
        "mle_dimension",
        "nnk_degree",
        "local_dimension",
        "subspace_angles",
    ):
        assert name in semantic
    noisy = set(t.loc[t["manifold"] == "noisy", "metric"])
    for name in (
        "spread_ratio",
        "same_source_rate",
        "augmentation_dimension",
        "tangent_alignment",
        "lidar",
        "alignment",
        "augmentation_diameter_ratio",
    ):
        assert name in noisy
    assert np.isfinite(t["value"]).all()


def test_values_equal_the_metric_functions(prof, embeddings):
    z, views = embeddings
    assert prof.value("rankme") == pytest.approx(manifold.rankme(z))
    assert prof.value("spread_ratio", "noisy") == pytest.approx(
        manifold.spread_ratio(z, views["noisy"], k=8).summary.mean
    )
    assert prof.value("lidar", "noisy") == pytest.approx(
        manifold.lidar(views["noisy"], scale="within")
    )


def test_invariant_family_has_zero_spread_and_undefined_angle_is_reported(prof):
    assert prof.value("spread_ratio", "still") == 0.0
    assert prof.value("same_source_rate", "still") == pytest.approx(1.0)
    failed = {(f["manifold"], f["metric"]) for f in prof.failures}
    assert ("still", "tangent_alignment") in failed


def test_save_load_roundtrip(prof, tmp_path):
    for name in ("p.csv", "p.parquet"):
        path = prof.save(tmp_path / name)
        back = Profile.load(path)
        pd.testing.assert_frame_equal(back.table, prof.table, check_dtype=False)
        assert back.settings == prof.settings
        assert back.failures == prof.failures
    with pytest.raises(ValueError, match=".parquet or .csv"):
        prof.save(tmp_path / "p.txt")
    with pytest.raises(FileNotFoundError):
        Profile.load(tmp_path / "missing.csv")


def test_concat_and_matrix(prof, embeddings):
    z, views = embeddings
    other = profile(
        2 * z, view_embeddings={"noisy": 2 * views["noisy"]}, k=8, name="scaled", progress=False
    )
    both = Profile.concat([prof, other])
    assert both.models == ["toy", "scaled"]
    m = both.to_matrix()
    assert list(m.index) == ["toy", "scaled"]
    # scaling every embedding leaves ranks, dimensions and the spread ratio unchanged
    for col in ("semantic/rankme", "semantic/twonn_dimension", "noisy/spread_ratio"):
        assert m.loc["toy", col] == pytest.approx(m.loc["scaled", col], rel=1e-6)
    with pytest.raises(ValueError, match="distinct name"):
        Profile.concat([prof, prof])


def test_constant_embeddings_keep_what_can_be_computed():
    z = np.ones((30, 5))
    p = profile(z, k=5, name="const", progress=False)
    assert "rankme" in set(p.table["metric"])
    assert p.failures, "metrics undefined on constant embeddings must be listed as failures"
    assert all(f["error"] for f in p.failures)
    # the dimension estimators work on the distinct rows: one here, and they say so
    errors = {f["metric"]: f["error"] for f in p.failures}
    assert "1 distinct among 30" in errors["twonn_dimension"]


def test_bad_input_messages(embeddings):
    z, views = embeddings
    with pytest.raises(ValueError, match="images"):
        profile(z, images=np.zeros((80, 1, 8, 8)))
    with pytest.raises(ValueError, match="no views given"):
        profile(z, view_embeddings=views, families=("crop",), progress=False)
    with pytest.raises(ValueError, match="N >= 11"):
        profile(z[:5], k=10, progress=False)
    # bad views are the caller's mistake: raised at the call, not hidden in failures
    with pytest.raises(ValueError, match=r"views\['wrong'\] has shape \(79, 4, 12\)"):
        profile(z, view_embeddings={"wrong": np.ones((79, 4, 12))}, k=8, progress=False)


def test_a_profile_from_before_the_metrics_version_is_version_1(prof):
    # "metrics_version" was first recorded as 2: a profile without it holds older numbers
    # (nnk_diameter and lidar up to 50x off today's): concatenating them must say so
    from manifold.engine import METRICS_VERSION

    old_settings = {k: v for k, v in prof.settings["toy"].items() if k != "metrics_version"}
    old = Profile(prof.table.assign(model="old"), {"old": old_settings})
    both = Profile.concat([prof, old])
    assert both.mismatched_settings() == {
        "metrics_version": {str(METRICS_VERSION): ["toy"], "1": ["old"]}
    }
    assert describe_mismatch(both.mismatched_settings()) == "metrics_version: 2 (toy), 1 (old)"
    # a model without recorded settings is still not compared
    unrecorded = Profile(prof.table.assign(model="bare"), {"bare": {}})
    assert Profile.concat([prof, unrecorded]).mismatched_settings() == {}
