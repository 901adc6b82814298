"""Direct similarity of representations: CKA, mutual kNN, Procrustes, their calibration, the zoo
matrix and clustering on it, checked against direct N × N computations, closed forms and scipy."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import scipy.stats
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

import manifold
from manifold import DegenerateWarning
from manifold.graphs import knn_graph, nnk_graph
from manifold.metrics import (
    linear_cka,
    mutual_knn,
    procrustes_distance,
    representation_similarity,
    similarity,
)
from manifold.zoo import cluster_models, similarity_matrix


# -- references, written out on the N × N matrices -------------------------------------------------
def cka_reference(x, y, debiased, centre=False):
    """Linear CKA from the N × N Gram matrices in float64.

    Classic: HSIC ∝ tr(HKH HLH). Debiased: Song et al.'s unbiased HSIC, term by term:
    [tr(K̃L̃) + 1ᵀK̃1 1ᵀL̃1 / ((n-1)(n-2)) - 2/(n-2) 1ᵀK̃L̃1] / (n(n-3)), K̃ = K with a zero diagonal.
    Both are invariant to translating either side; with ``centre`` the columns are centred first,
    which keeps the raw Gram matrices of data far from the origin exact enough in float64.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if centre:
        x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    n = x.shape[0]

    def hsic(kx, ky):
        if not debiased:
            h = np.eye(n) - 1.0 / n
            return np.trace(h @ kx @ h @ ky)
        kx, ky = kx - np.diag(np.diag(kx)), ky - np.diag(np.diag(ky))
        one = np.ones(n)
        return (np.trace(kx @ ky) + (one @ kx @ one) * (one @ ky @ one) / ((n - 1) * (n - 2))
                - 2.0 / (n - 2) * (one @ kx @ ky @ one)) / (n * (n - 3))  # fmt: skip

    kx, ky = x @ x.T, y @ y.T
    return hsic(kx, ky) / np.sqrt(hsic(kx, kx) * hsic(ky, ky))


def related(n, p, q, noise=1.0, seed=0, offset=0.0):
    """Two representations sharing a 3-dimensional signal, plus independent noise."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, 3))
    x = signal @ rng.normal(size=(3, p)) + noise * rng.normal(size=(n, p)) + offset
    y = signal @ rng.normal(size=(3, q)) + noise * rng.normal(size=(n, q)) - offset
    return x, y


def random_rotation(d, seed):
    return scipy.stats.ortho_group.rvs(d, random_state=seed)


# -- CKA -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("debiased", [True, False])
@pytest.mark.parametrize(
    "n, p, q, offset",
    [(60, 5, 8, 0.0), (200, 12, 12, 50.0), (25, 70, 6, 3.0), (40, 90, 120, 0.0)],
)
def test_cka_equals_the_direct_n_by_n_computation(debiased, n, p, q, offset):
    # the last two cases have D > N: the side is reduced to an N × N factor first
    x, y = related(n, p, q, offset=offset, seed=n)
    assert similarity(x, y, debiased=debiased).value == pytest.approx(
        cka_reference(x, y, debiased), rel=1e-9, abs=1e-12
    )


@pytest.mark.parametrize("debiased", [True, False])
def test_cka_in_many_chunks_equals_one_pass(debiased, monkeypatch):
    x, y = related(150, 7, 5, offset=1e3, seed=3)
    whole = similarity(x, y, debiased=debiased).value
    monkeypatch.setattr(representation_similarity, "_CHUNK_BYTES", 8 * 12 * 16)  # 16 rows
    monkeypatch.setattr(representation_similarity, "_SHIFT_ROWS", 10)  # a shift, not the mean
    chunked = similarity(x, y, debiased=debiased).value
    assert chunked == pytest.approx(whole, rel=1e-10)
    assert chunked == pytest.approx(cka_reference(x, y, debiased, centre=True), rel=1e-9)


@pytest.mark.parametrize("debiased", [True, False])
def test_cka_is_invariant_to_rotations_scaling_and_translation(debiased):
    x, y = related(120, 6, 9, seed=5)
    base = similarity(x, y, debiased=debiased).value
    moved_x = 7.5 * x @ random_rotation(6, 1) + 4.0
    moved_y = 0.01 * y @ random_rotation(9, 2) - 2.0
    assert similarity(moved_x, moved_y, debiased=debiased).value == pytest.approx(base, rel=1e-9)
    assert similarity(x, x @ random_rotation(6, 3) * 3, debiased=debiased).value == (
        pytest.approx(1.0, abs=1e-12)
    )
    # not invariant to an anisotropic scaling: the check can fail
    stretched = x * np.array([10.0, 1, 1, 1, 1, 0.1])
    assert abs(similarity(stretched, y, debiased=debiased).value - base) > 1e-3


def test_debiased_cka_of_independent_noise_is_zero_within_its_standard_deviation():
    """For independent X and Y the debiased HSIC is a degenerate U-statistic with mean 0 whose
    leading term has variance 2/(n(n−1))·‖Σ_x‖²_F‖Σ_y‖²_F (E[(x_1·x_2)²] = tr Σ_x² for
    independent Gaussian rows), and the self-HSICs estimate ‖Σ_x‖²_F, ‖Σ_y‖²_F: the debiased CKA
    has mean 0 and standard deviation σ = √(2/(n(n−1))) to leading order. Over R draws the mean
    lies within 4σ/√R of 0 and the sample standard deviation within the chi-square interval
    (p = 0.001 each side) of σ; the classic CKA of the same pairs is biased upwards."""
    rng = np.random.default_rng(11)
    n, p, q, draws = 150, 4, 6, 60
    sigma = np.sqrt(2.0 / (n * (n - 1)))
    pairs = [(rng.normal(size=(n, p)), rng.normal(size=(n, q))) for _ in range(draws)]
    values = np.array([similarity(x, y).value for x, y in pairs])
    assert abs(values.mean()) < 4 * sigma / np.sqrt(draws)
    low, high = np.sqrt(scipy.stats.chi2.ppf([0.001, 0.999], draws - 1) / (draws - 1))
    assert low * sigma < values.std(ddof=1) < high * sigma
    classic = np.array([similarity(x, y, debiased=False).value for x, y in pairs])
    assert classic.mean() > 10 * sigma / np.sqrt(draws)


def test_cka_numpy_torch_float16_and_memmap_inputs_agree(tmp_path):
    x, y = related(80, 6, 5, seed=2)
    x16 = x.astype(np.float16)
    expected = cka_reference(x16.astype(np.float64), y, True)
    assert similarity(x16, y).value == pytest.approx(expected, rel=1e-9)
    assert similarity(torch.from_numpy(x16), torch.from_numpy(y)).value == pytest.approx(
        expected, rel=1e-9
    )
    path = tmp_path / "y.npy"
    np.save(path, y.astype(np.float32))
    mm = np.load(path, mmap_mode="r")
    assert similarity(x16, mm).value == pytest.approx(
        cka_reference(x16.astype(np.float64), y.astype(np.float32), True), rel=1e-9
    )
    assert similarity(x16, str(path)).value == similarity(x16, mm).value
    assert similarity(x, str(path), "mutual_knn").value == (
        similarity(x, y.astype(np.float32), "mutual_knn").value
    )


def test_linear_cka_is_similarity_value():
    x, y = related(50, 4, 4, seed=9)
    assert linear_cka(x, y) == similarity(x, y).value
    assert linear_cka(x, y, debiased=False) == similarity(x, y, debiased=False).value


# -- mutual kNN -----------------------------------------------------------------------------------
def mutual_knn_reference(x, y, k, metric):
    def neighbours(z):
        if metric == "cosine":
            u = z / np.linalg.norm(z, axis=1, keepdims=True)
            d = 1 - u @ u.T
        else:
            d = np.linalg.norm(z[:, None] - z[None], axis=2)
        np.fill_diagonal(d, np.inf)
        return np.argsort(d, axis=1, kind="stable")[:, :k]

    a, b = neighbours(x), neighbours(y)
    return np.mean([len(set(a[i]) & set(b[i])) / k for i in range(len(x))])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_mutual_knn_equals_its_definition(metric):
    x, y = related(90, 5, 7, noise=1.5, seed=4)
    assert mutual_knn(x, y, k=6, metric=metric) == pytest.approx(
        mutual_knn_reference(x, y, 6, metric), abs=1e-12
    )


def test_mutual_knn_is_one_for_the_same_neighbourhoods():
    x, _ = related(70, 5, 5, seed=1)
    assert mutual_knn(x, 3 * x @ random_rotation(5, 0)) == 1.0
    assert mutual_knn(x, x, metric="euclidean") == 1.0


def test_mutual_knn_of_independent_representations_is_k_over_n_minus_one():
    """For independent B, kNN_B(i) is a uniformly random k-subset of the other N − 1 points, so
    |kNN_A(i) ∩ kNN_B(i)| is hypergeometric with mean k²/(N−1): the measure's mean is k/(N−1).
    The mean over R independent draws lies within 4 standard errors (from the draws) of it."""
    rng = np.random.default_rng(7)
    n, k, draws = 120, 10, 30
    values = np.array([mutual_knn(rng.normal(size=(n, 5)), rng.normal(size=(n, 5)), k=k)
                       for _ in range(draws)])  # fmt: skip
    se = values.std(ddof=1) / np.sqrt(draws)
    assert abs(values.mean() - k / (n - 1)) < 4 * se
    assert se < 0.2 * k / (n - 1)  # the test has power: the spread is small against the mean


def test_mutual_knn_reuses_given_graphs():
    x, y = related(80, 5, 6, seed=8)
    expected = mutual_knn(x, y, k=5, metric="euclidean")
    gx, gy = knn_graph(x, k=12), knn_graph(y, k=5)
    assert mutual_knn(gx, gy, k=5) == expected  # the first 5 of 12 neighbours
    assert mutual_knn(nnk_graph(x, k=5), y, k=5, metric="euclidean") == expected
    with pytest.raises(ValueError, match="has 5"):
        mutual_knn(gx, gy, k=6)


# -- Procrustes -----------------------------------------------------------------------------------
def normalised(z):
    z = z - z.mean(axis=0)
    return z / np.linalg.norm(z)


def test_procrustes_matches_scipy_orthogonal_procrustes():
    x, y = related(100, 6, 6, seed=12)
    xn, yn = normalised(x), normalised(y)
    rotation, _ = scipy.linalg.orthogonal_procrustes(yn, xn)  # argmin_R ‖yn R − xn‖_F
    expected = np.linalg.norm(yn @ rotation - xn)
    assert procrustes_distance(x, y) == pytest.approx(expected, rel=1e-10)
    value = similarity(x, y, "procrustes").value
    assert np.sqrt(2 - 2 * value) == pytest.approx(expected, rel=1e-10)
    assert procrustes_distance(x, y, angular=True) == pytest.approx(np.arccos(value), rel=1e-12)


def test_procrustes_pads_the_smaller_dimension_with_zeros():
    x, y = related(80, 7, 3, seed=13)
    padded = np.hstack([y, np.zeros((80, 4))])
    rotation, _ = scipy.linalg.orthogonal_procrustes(normalised(padded), normalised(x))
    expected = np.linalg.norm(normalised(padded) @ rotation - normalised(x))
    assert procrustes_distance(x, y) == pytest.approx(expected, rel=1e-10)


def test_procrustes_shape_invariances_and_a_failing_case():
    x, y = related(90, 5, 5, seed=14)
    assert procrustes_distance(x, -2.0 * x @ random_rotation(5, 4) + 7) == pytest.approx(
        0.0, abs=1e-6
    )
    moved = procrustes_distance(3 * x @ random_rotation(5, 5) + 1, y @ random_rotation(5, 6))
    assert moved == pytest.approx(procrustes_distance(x, y), rel=1e-9)
    assert procrustes_distance(x, y) > 0.1


# -- calibration ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "measure, options",
    [
        ("cka", {"debiased": True}),
        ("cka", {"debiased": False}),
        ("procrustes", {}),
        ("mutual_knn", {"k": 5}),
    ],  # fmt: skip
)
def test_permutation_null_and_p_value_equal_a_direct_loop(measure, options):
    x, y = related(70, 5, 4, noise=2.5, seed=21)
    res = similarity(x, y, measure, n_permutations=40, seed=5, **options)
    rng = np.random.default_rng(5)
    null = np.array([similarity(x, y[rng.permutation(70)], measure, **options).value
                     for _ in range(40)])  # fmt: skip
    assert res.null == pytest.approx(null, abs=1e-12)
    assert res.n_permutations == 40
    assert res.null_mean == pytest.approx(null.mean(), abs=1e-12)
    assert res.null_sd == pytest.approx(null.std(ddof=1), abs=1e-12)
    assert res.calibrated == pytest.approx(res.value - null.mean(), abs=1e-12)
    assert res.p_value == (1 + np.sum(null >= res.value - 1e-12)) / 41


def test_p_value_counts_ties_and_small_values():
    x, y = related(60, 4, 4, noise=0.2, seed=1)
    strong = similarity(x, y, n_permutations=19, seed=0)
    assert strong.p_value == pytest.approx(1 / 20)  # no shuffle reaches the paired value
    rng = np.random.default_rng(3)
    weak = similarity(rng.normal(size=(60, 4)), rng.normal(size=(60, 4)), n_permutations=99,
                      seed=torch.Generator().manual_seed(2))  # fmt: skip
    assert 0.0 < weak.p_value <= 1.0 and weak.null.shape == (99,)
    assert np.isnan(similarity(x, y).p_value) and similarity(x, y).null is None


def test_seed_makes_the_null_reproducible():
    x, y = related(50, 4, 4, seed=2)
    first = similarity(x, y, n_permutations=10, seed=4)
    assert np.array_equal(first.null, similarity(x, y, n_permutations=10, seed=4).null)
    assert not np.array_equal(first.null, similarity(x, y, n_permutations=10, seed=5).null)


# -- errors ----------------------------------------------------------------------------------------
def test_errors_name_what_was_expected_and_what_came():
    x, y = related(30, 4, 4, seed=0)
    with pytest.raises(ValueError, match="same images.*N = 30.*N = 29"):
        similarity(x, y[:29])
    bad = x.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match="a contains 1 NaN value.*row 7"):
        similarity(bad, y)
    bad[7, 2] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        similarity(y, bad, "procrustes")
    # collapse is a result, not an error: NaN, and a DegenerateWarning naming the side
    for measure in ("cka", "mutual_knn", "procrustes"):
        with pytest.warns(DegenerateWarning, match="b is constant"):
            assert np.isnan(similarity(x, np.ones((30, 3)), measure).value)
    with pytest.warns(DegenerateWarning, match="a and b are constant"):
        collapsed = similarity(np.full((30, 2), 3.0), np.zeros((30, 5)), n_permutations=9)
    assert np.isnan(collapsed.value) and collapsed.null is None
    with pytest.raises(ValueError, match=r"k \+ 1 = 31 rows"):
        similarity(x, y, "mutual_knn", k=30)
    with pytest.raises(ValueError, match="N >= 4 rows.*a and b have N = 3"):
        similarity(x[:3], y[:3])
    with pytest.raises(ValueError, match="N >= 2 rows; a and b have N = 1"):
        similarity(x[:1], y[:1], "procrustes")
    assert np.isfinite(similarity(x[:3], y[:3], debiased=False).value)
    with pytest.raises(ValueError, match="measure must be one of"):
        similarity(x, y, "rsa")
    with pytest.raises(TypeError, match="graphs serve measure='mutual_knn'"):
        similarity(knn_graph(x, k=3), y)
    with pytest.raises(ValueError, match=r"expected a of shape \(N, D\)"):
        similarity(x[0], y)
    with pytest.raises(ValueError, match="metric must be one of"):
        similarity(x, y, "mutual_knn", metric="manhattan")
    zero_row = x.copy()
    zero_row[4] = 0.0
    with pytest.raises(ValueError, match="^b: the cosine distance is undefined for zero vectors"):
        similarity(x, zero_row, "mutual_knn")
    assert np.isfinite(similarity(x, zero_row, "mutual_knn", metric="euclidean").value)


def test_file_backed_rows_report_the_global_row_of_a_nan(tmp_path, monkeypatch):
    x, _ = related(50, 3, 3, seed=0)
    bad = x.copy()
    bad[41, 0] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    monkeypatch.setattr(representation_similarity, "_CHUNK_BYTES", 8 * 6 * 10)
    with pytest.raises(ValueError, match="row 41"):
        similarity(x, np.load(tmp_path / "bad.npy", mmap_mode="r"))


# -- the zoo matrix --------------------------------------------------------------------------------
def small_zoo(seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(120, 4))
    zoo = {}
    for group, scale in (("close", 0.3), ("far", 3.0)):
        for j in range(3):
            dim = 5 + j
            zoo[f"{group}{j}"] = signal @ rng.normal(size=(4, dim)) + scale * rng.normal(
                size=(120, dim))  # fmt: skip
    return zoo


@pytest.mark.parametrize(
    "measure, options",
    [
        ("cka", {}),
        ("cka", {"debiased": False}),
        ("procrustes", {}),
        ("mutual_knn", {"k": 5, "metric": "euclidean"}),
    ],  # fmt: skip
)
def test_matrix_entries_equal_the_pairwise_function(measure, options, monkeypatch):
    monkeypatch.setattr(representation_similarity, "_GROUP_WIDTH", 12)  # several stacked groups
    zoo = small_zoo()
    result = similarity_matrix(zoo, measure=measure, **options)
    names = list(zoo)
    assert result.models == names and result.n == 120
    assert result.matrix.to_numpy() == pytest.approx(result.matrix.to_numpy().T)
    assert np.diag(result.matrix.to_numpy()).tolist() == [1.0] * len(names)
    assert len(result.table) == len(names) * (len(names) - 1) // 2
    for row in result.table.itertuples():
        expected = similarity(zoo[row.model_a], zoo[row.model_b], measure, **options).value
        assert row.value == pytest.approx(expected, abs=1e-12)
        assert result.matrix.loc[row.model_b, row.model_a] == row.value


def test_matrix_reuses_given_graphs_for_mutual_knn():
    zoo = small_zoo()
    graphs = {name: knn_graph(z, k=5) for name, z in zoo.items()}
    from_graphs = similarity_matrix(graphs, measure="mutual_knn", k=5)
    from_points = similarity_matrix(zoo, measure="mutual_knn", k=5, metric="euclidean")
    assert from_graphs.matrix.equals(from_points.matrix)
    assert set(from_graphs.table["metric"]) == {"graph"}
    assert set(from_points.table["metric"]) == {"euclidean"}
    with pytest.raises(TypeError, match="graphs serve measure='mutual_knn'"):
        similarity_matrix(graphs, measure="cka")


def test_matrix_with_permutations_equals_similarity_with_the_same_seed():
    zoo = {k: v for k, v in small_zoo().items() if k in ("close0", "close1", "far2")}
    result = similarity_matrix(zoo, n_permutations=15, seed=3)
    for row in result.table.itertuples():
        single = similarity(zoo[row.model_a], zoo[row.model_b], n_permutations=15, seed=3)
        assert (row.value, row.null_mean, row.p_value) == pytest.approx(
            (single.value, single.null_mean, single.p_value), abs=1e-12
        )
        assert result.calibrated.loc[row.model_a, row.model_b] == pytest.approx(single.calibrated)


def test_matrix_embeds_models_once_through_the_embedder(tmp_path):
    torch.manual_seed(0)
    images = torch.rand(40, 3, 8, 8)
    nets = {f"net{i}": torch.nn.Sequential(torch.nn.Conv2d(3, 4 + i, 3), torch.nn.ReLU(),
                                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
            for i in range(3)}  # fmt: skip
    result = similarity_matrix(nets, images, cache_dir=tmp_path, batch_size=16)
    z = {name: manifold.Embedder(net, progress=False).embed(images) for name, net in nets.items()}
    direct = similarity_matrix(z)
    assert result.matrix.to_numpy() == pytest.approx(direct.matrix.to_numpy(), abs=1e-9)
    assert any(tmp_path.rglob("*")), "the embeddings were cached"
    mixed = similarity_matrix({"net0": nets["net0"], "z1": z["net1"]}, images)
    assert mixed.matrix.iloc[0, 1] == pytest.approx(direct.matrix.loc["net0", "net1"], abs=1e-9)
    with pytest.raises(ValueError, match="need images"):
        similarity_matrix(nets)


def test_matrix_marks_a_constant_model_and_keeps_the_others():
    zoo = small_zoo()
    zoo["collapsed"] = np.ones((120, 4))
    with pytest.warns(DegenerateWarning, match="collapsed is constant"):
        result = similarity_matrix(zoo)
    assert result.constant == ["collapsed"]
    assert result.matrix.loc["collapsed"].isna().all()
    assert result.matrix.loc["close0", "close1"] == pytest.approx(
        similarity(zoo["close0"], zoo["close1"]).value
    )
    assert result.order()[-1] == "collapsed"


def test_matrix_errors():
    zoo = small_zoo()
    with pytest.raises(ValueError, match="same images.*close0: 120.*far0: 100"):
        similarity_matrix({"close0": zoo["close0"], "far0": zoo["far0"][:100]})
    with pytest.raises(ValueError, match="at least 2"):
        similarity_matrix({"close0": zoo["close0"]})
    with pytest.raises(TypeError, match="mapping"):
        similarity_matrix([zoo["close0"], zoo["far0"]])


def test_plot_orders_by_the_dendrogram_and_colours_groups():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import leaves_list

    zoo = small_zoo()
    result = similarity_matrix(zoo, n_permutations=5)
    names = result.models
    dist = 1 - result.matrix.to_numpy()
    np.fill_diagonal(dist, 0)
    expected = [names[i] for i in leaves_list(linkage(squareform(dist), "average"))]
    assert result.order() == expected
    groups = {name: name.rstrip("0123456789") for name in names}
    fig = result.plot(groups=groups)
    heat = fig.axes[0]
    assert [t.get_text() for t in heat.get_yticklabels()] == expected
    shown = heat.images[0].get_array()
    assert np.allclose(shown, result.matrix.loc[expected, expected].to_numpy())
    plt.close(fig)
    fig = result.plot(calibrated=True)
    drawn = fig.axes[0].images[0].get_array().filled(np.nan)
    assert np.allclose(drawn, result.calibrated.loc[expected, expected], equal_nan=True)
    plt.close(fig)
    with pytest.raises(ValueError, match="n_permutations"):
        similarity_matrix(zoo).plot(calibrated=True)


# -- clustering on 1 − S --------------------------------------------------------------------------
def test_cluster_models_on_a_similarity_matrix_is_linkage_on_one_minus_s():
    zoo = small_zoo()
    result = similarity_matrix(zoo)
    groups = {name: name.rstrip("0123456789") for name in zoo}
    clusters = cluster_models(similarity=result, groups=groups, n_permutations=99)
    dist = 1 - result.matrix.to_numpy()
    np.fill_diagonal(dist, 0)
    tree = linkage(squareform(dist), "average")
    assert np.allclose(clusters.linkage, tree)
    assert clusters.labels.tolist() == fcluster(tree, 2, "maxclust").tolist()
    assert clusters.distance == "1 - cka" and clusters.matrix.equals(result.matrix)
    assert clusters.adjusted_rand_index == pytest.approx(
        clusters.agreement(groups, n_permutations=0)["ari"]
    )
    from_frame = cluster_models(similarity=result.matrix, n_clusters=2)
    assert from_frame.labels.equals(cluster_models(similarity=result, n_clusters=2).labels)
    assert from_frame.distance == "1 - similarity"


def test_cluster_models_similarity_errors():
    s = pd.DataFrame(np.eye(3), index=list("abc"), columns=list("abc"))
    with pytest.raises(ValueError, match="not both"):
        cluster_models(s, similarity=s)
    with pytest.raises(ValueError, match="got neither"):
        cluster_models()
    with pytest.raises(ValueError, match="square"):
        cluster_models(similarity=s.iloc[:, :2])
    with pytest.raises(ValueError, match="at most 1"):
        cluster_models(similarity=s + 1.5)
    with pytest.raises(ValueError, match="ward"):
        cluster_models(similarity=s, method="ward")
    nan = s.copy()
    nan.loc["a", "b"] = np.nan
    with pytest.raises(ValueError, match="non-finite values for models"):
        cluster_models(similarity=nan)


def test_top_level_exports():
    assert manifold.similarity is similarity
    assert manifold.similarity_matrix is similarity_matrix
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = manifold.similarity(*related(20, 3, 3))
    assert isinstance(result, manifold.metrics.SimilarityResult)


# -- the factor-zoo script's statistics -----------------------------------------------------------
def _factor_similarity_script():
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "examples" / "zoo"
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location("factor_similarity",
                                                      folder / "factor_similarity.py")  # fmt: skip
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def test_stratified_rate_by_hand():
    script = _factor_similarity_script()
    labels = np.array(["a", "b", "a", "b"])
    strata = np.array(["s", "s", "t", "t"])
    # neighbours inside a stratum whose labels differ: every shuffle keeps them different
    inside = script.stratified_rate(np.array([1, 0, 3, 2]), labels, strata, 200, 0)
    assert inside == {"rate": 0.0, "chance": 0.0, "p": 1.0}
    # across strata: model 0's and model 2's shuffled labels are independent fair coins, and
    # the rate is 1 when the two strata keep or both swap their order (probability 1/2), else 0
    across = script.stratified_rate(np.array([2, 3, 0, 1]), labels, strata, 2000, 0)
    assert across["rate"] == 1.0
    assert abs(across["chance"] - 0.5) < 4 * 0.5 / np.sqrt(2000)
    assert across["p"] == pytest.approx(across["chance"], abs=0.01)
    assert script.nearest(np.array([[0, 1, 3], [1, 0, 2], [3, 2, 0]])).tolist() == [1, 0, 1]


def test_seed_pairs_by_hand():
    script = _factor_similarity_script()
    names, rows = [], []
    for recipe in ("crop", "color"):
        for method in ("simclr", "vicreg"):
            for seed in (0, 1):
                names.append(f"{method}_{recipe}_s{seed}")
                rows.append({"recipe": recipe, "method": method, "seed": seed,
                             "temperature": 0.5 if method == "simclr" else np.nan})  # fmt: skip
    manifest = pd.DataFrame(rows, index=names)
    # crop models: the seed partner is nearest; color models: the other objective, same seed
    dist = np.full((8, 8), 10.0)
    np.fill_diagonal(dist, 0.0)
    for i, j, d in ((0, 1, 1.0), (2, 3, 1.0), (4, 6, 1.0), (5, 7, 1.0), (4, 5, 2.0),
                    (6, 7, 2.0)):  # fmt: skip
        dist[i, j] = dist[j, i] = d
    out = script.seed_pairs(dist, manifest, names, 3000, 0)
    assert out["n_pairs"] == 4 and out["mutual"] == 2 and out["partner_nn"] == 0.5
    assert (out["median_rank"], out["rank_q1"], out["rank_q3"]) == (1.5, 1.0, 2.0)
    # every nearest neighbour is in the same recipe, where a re-pairing makes it the partner
    # with probability 1/3
    assert abs(out["chance"] - 1 / 3) < 0.02
