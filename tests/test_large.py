"""profile_large and its anchor estimators against the full computation on small N."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from manifold import knn_graph, mle_dimension, nnk_graph, spectrum, twonn_dimension
from manifold.large import RowReader, anchor_knn, anchor_nnk, profile_large
from manifold.metrics import local_dimension, nnk_degree, nnk_diameter
from manifold.spectral import rankme


def _cloud(n: int, dim: int = 8, latent: int = 3, seed: int = 0) -> np.ndarray:
    """Points near a curved 3-D manifold in ``dim`` dimensions (float32)."""
    rng = np.random.default_rng(seed)
    t = rng.random((n, latent))
    feats = np.hstack([t, np.sin(3 * t), t[:, :1] * t[:, 1:2]])
    mix = rng.normal(size=(feats.shape[1], dim))
    return (feats @ mix + 0.01 * rng.normal(size=(n, dim))).astype(np.float32)


@pytest.fixture(scope="module")
def cloud() -> np.ndarray:
    return _cloud(1500)


@pytest.fixture(scope="module")
def memmap_path(tmp_path_factory, cloud) -> str:
    path = tmp_path_factory.mktemp("large") / "z.npy"
    np.save(path, cloud)
    return str(path)


def test_reader_reads_memmap_rows_from_file(memmap_path, cloud):
    z = np.load(memmap_path, mmap_mode="r")
    reader = RowReader(z)
    assert reader.streams_from_file
    np.testing.assert_array_equal(reader.read(7, 300), cloud[7:300])
    rows = np.array([0, 1, 2, 10, 11, 1499])
    np.testing.assert_array_equal(reader.take(rows), cloud[rows])
    # a row slice of the memmap starts at its own byte offset
    view = RowReader(z[100:200])
    assert view.streams_from_file
    np.testing.assert_array_equal(view.read(0, 100), cloud[100:200])
    # copy-on-write memmaps are sliced (changes live only in the mapping)
    cow = np.load(memmap_path, mmap_mode="c")
    cow[0] = 5.0
    r = RowReader(cow)
    assert not r.streams_from_file
    assert float(r.read(0, 1)[0, 0]) == 5.0


@pytest.mark.parametrize("chunk_rows", [97, 1500])
def test_anchor_knn_equals_full_graph_rows(cloud, chunk_rows):
    rows = np.sort(np.random.default_rng(1).choice(len(cloud), 200, replace=False))
    full = knn_graph(cloud, k=12)
    g = anchor_knn(cloud, rows, k=12, chunk_rows=chunk_rows)
    np.testing.assert_array_equal(g.indices, full.indices[rows])
    np.testing.assert_allclose(g.distances, full.distances[rows], rtol=1e-12, atol=0)


def test_anchor_knn_ivf_with_all_cells_is_exact(cloud):
    rows = np.arange(0, len(cloud), 7)
    flat = anchor_knn(cloud, rows, k=5, chunk_rows=400)
    ivf = anchor_knn(cloud, rows, k=5, chunk_rows=400, index="ivf", nlist=4, nprobe=4)
    np.testing.assert_array_equal(ivf.indices, flat.indices)
    np.testing.assert_allclose(ivf.distances, flat.distances, rtol=1e-12)


def test_anchor_nnk_equals_full_nnk_graph_at_anchors(memmap_path, cloud):
    rows = np.sort(np.random.default_rng(2).choice(len(cloud), 300, replace=False))
    knn_full = knn_graph(cloud, k=10)
    sigma = float(knn_full.distances[:, -1].mean()) / 3.0
    nnk_full = nnk_graph(knn_full, sigma=sigma, symmetrize=False)
    z = np.load(memmap_path, mmap_mode="r")
    g = anchor_knn(z, rows, k=10, chunk_rows=256)
    a = anchor_nnk(z, g, rows, sigma=sigma)
    np.testing.assert_array_equal(a.degree, nnk_full.degree[rows])
    np.testing.assert_allclose(a.weights, nnk_full.weights[rows], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.error, nnk_full.error[rows], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(a.degree, nnk_degree(nnk_full).values[rows])
    np.testing.assert_allclose(a.diameter, nnk_diameter(nnk_full).values[rows], rtol=1e-12)
    np.testing.assert_array_equal(a.local_dimension, local_dimension(nnk_full).values[rows])


def test_all_rows_as_anchors_is_the_full_computation(cloud):
    p = profile_large(cloud, n_anchors=len(cloud), k=10, chunk_rows=500)
    wide = knn_graph(cloud, k=20)
    assert p.value("twonn_dimension") == pytest.approx(twonn_dimension(knn_graph(cloud, k=2)))
    assert p.value("mle_dimension") == pytest.approx(mle_dimension(wide, k=20), rel=1e-12)
    for metric in ("twonn_dimension", "mle_dimension", "nnk_degree", "local_dimension"):
        assert p.value(metric, statistic="se") == 0.0
    sigma = p.settings["model"]["sigma"]
    full = nnk_graph(knn_graph(cloud, k=10), sigma=sigma)
    assert p.value("nnk_degree") == pytest.approx(nnk_degree(full).summary.mean, rel=1e-12)
    assert p.value("nnk_diameter", statistic="median") == pytest.approx(
        nnk_diameter(full, scale="knn").summary.median, rel=1e-12
    )


def test_anchor_means_are_within_three_standard_errors_of_the_full_means():
    z = _cloud(4000, seed=3)
    p = profile_large(z, n_anchors=400, k=10, seed=5)
    sigma = p.settings["model"]["sigma"]
    full_knn = knn_graph(z, k=20)
    full_nnk = nnk_graph(knn_graph(z, k=10), sigma=sigma)
    full = {
        "nnk_degree": nnk_degree(full_nnk).summary.mean,
        "nnk_diameter": nnk_diameter(full_nnk, scale="knn").summary.mean,
        "local_dimension": local_dimension(full_nnk).summary.mean,
        "mle_dimension": mle_dimension(full_knn, k=20),
        "twonn_dimension": twonn_dimension(full_knn),
    }
    for metric, value in full.items():
        se = p.value(metric, statistic="se")
        assert se > 0
        assert abs(p.value(metric) - value) <= 3 * se, metric


def test_standard_error_matches_the_spread_of_repeated_draws():
    """The reported SE of the NNK-degree mean is the sd of the estimator over anchor draws."""
    z = _cloud(2000, seed=4)
    means, ses = [], []
    for seed in range(12):
        p = profile_large(z, n_anchors=100, k=10, seed=seed, sigma=0.3, max_samples=None)
        means.append(p.value("nnk_degree"))
        ses.append(p.value("nnk_degree", statistic="se"))
    ratio = np.std(means, ddof=1) / np.mean(ses)
    # 12 draws: the sample sd is within a factor 2 of the truth with probability > 0.99
    assert 0.5 < ratio < 2.0


def test_spectral_metrics_are_exact_on_a_memmap(memmap_path, cloud):
    z = np.load(memmap_path, mmap_mode="r")
    p = profile_large(z, n_anchors=50, k=5, chunk_rows=333, max_samples=1000)
    s = spectrum(cloud)
    assert p.value("stable_rank") == pytest.approx(s.stable_rank(), rel=1e-10)
    assert p.value("participation_ratio") == pytest.approx(s.participation_ratio(), rel=1e-10)
    assert p.value("alpha") == pytest.approx(s.alpha().alpha, rel=1e-8)
    assert p.value("rankme") == pytest.approx(rankme(cloud, max_samples=1000, seed=0), rel=1e-10)
    assert p.settings["model"]["streams_from_file"]


def test_memmap_torch_and_array_inputs_agree(memmap_path, cloud):
    a = profile_large(memmap_path, n_anchors=80, k=6, chunk_rows=200).table
    b = profile_large(torch.from_numpy(cloud), n_anchors=80, k=6).table
    np.testing.assert_allclose(a["value"], b["value"], rtol=1e-9)


def test_bad_input_is_rejected_with_a_clear_message(tmp_path, cloud):
    bad = cloud.copy()
    bad[700, 2] = np.nan
    path = tmp_path / "bad.npy"
    np.save(path, bad)
    with pytest.raises(ValueError, match="NaN.*row 700"):
        profile_large(str(path), n_anchors=20, k=5, chunk_rows=256)
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        profile_large(np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="N >= k"):
        profile_large(cloud[:5], k=10)
    with pytest.raises(ValueError, match="index must be one of"):
        profile_large(cloud, index="hnsw")
    with pytest.raises(ValueError, match="sorted and distinct"):
        anchor_knn(cloud, np.array([5, 2]), k=3)
    with pytest.raises(ValueError, match="apply to index='ivf'"):
        anchor_knn(cloud, np.array([1, 2]), k=3, nprobe=2)


def test_duplicates_give_no_nan():
    z = np.repeat(_cloud(300, seed=6), 2, axis=0)
    with pytest.warns(UserWarning, match="duplicate"):
        p = profile_large(z, n_anchors=100, k=5)
    assert np.isfinite(p.table["value"]).all()
    # every anchor's nearest neighbour is its twin: its only NNK neighbour, TwoNN undefined
    assert p.value("nnk_degree", statistic="q95") == 1.0
    assert [f["metric"] for f in p.failures] == ["twonn_dimension"]


def test_failures_are_warned_as_profile_warns_them():
    import warnings

    from manifold import profile

    z = np.tile(np.array([[0.3, -1.7, 2.0, 0.1]]), (40, 1))  # a collapsed representation
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = profile_large(z, n_anchors=20, k=5)
    # before: the failures were recorded but nothing was said
    said = [str(w.message) for w in caught if "not computed" in str(w.message)]
    assert len(said) == len(p.failures) > 0
    assert all(w.filename == __file__ for w in caught if "not computed" in str(w.message))
    # worded as profile words them: the spectral metrics fail alike in both
    with warnings.catch_warnings(record=True) as by_profile:
        warnings.simplefilter("always")
        profile(z, k=5, progress=False)
    by_profile = {str(w.message) for w in by_profile}
    for metric in ("participation_ratio", "nesum", "alpha"):
        message = next(m for m in said if m.startswith(f"model: semantic/{metric} not computed"))
        assert message in by_profile
