import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from manifold.profiling import Profile
from manifold.zoo import cluster_models
from manifold.zoo.clustering import classical_mds, largest_gap_clusters

MANIFOLDS = ("semantic", "crop", "rotation")


def metric_names(p):
    """p metric column names spread over a few manifolds, the first two the baselines' columns."""
    names = ["semantic/rankme", "semantic/alpha"]
    i = 0
    while len(names) < p:
        names.append(f"{MANIFOLDS[i % len(MANIFOLDS)]}/m{i}")
        i += 1
    return names[:p]


def planted_groups(n_per_group=6, n_groups=3, p=12, separation=8.0, noise=0.3, seed=0):
    """Models in well-separated groups: group centres far apart, small within-group noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_groups, p)) * separation
    rows, groups = [], {}
    for g in range(n_groups):
        for j in range(n_per_group):
            name = f"g{g}_model{j}"
            rows.append(pd.Series(centres[g] + noise * rng.normal(size=p), name=name))
            groups[name] = f"method{g}"
    frame = pd.DataFrame(rows)
    frame.columns = metric_names(p)
    return frame, groups


def to_profile(frame, statistic="value"):
    """The same numbers as a tidy Profile table (every metric a scalar or a 'mean')."""
    records = []
    for model, row in frame.iterrows():
        for column, value in row.items():
            manifold, metric = column.split("/", 1)
            records.append((model, manifold, metric, statistic, float(value)))
    table = pd.DataFrame(records, columns=["model", "manifold", "metric", "statistic", "value"])
    return Profile(table)


def test_recovers_planted_groups_with_and_without_given_grouping():
    frame, groups = planted_groups()
    res = cluster_models(frame, groups=groups)
    assert res.n_clusters == 3 and res.n_clusters_rule == "groups"
    assert res.adjusted_rand_index == pytest.approx(1.0)
    # without groups the largest gap in merge heights finds the same three clusters
    free = cluster_models(frame)
    assert free.n_clusters_rule == "largest gap" and free.n_clusters == 3
    assert free.adjusted_rand_index is None
    assert pd.crosstab(free.labels, pd.Series(groups)).gt(0).sum(axis=1).eq(1).all()


def test_scrambled_groups_give_low_ari():
    frame, groups = planted_groups(seed=1)
    names = list(groups)
    rng = np.random.default_rng(0)
    shuffled = dict(zip(names, rng.permutation([groups[n] for n in names]), strict=True))
    res = cluster_models(frame, groups=shuffled)
    assert res.adjusted_rand_index < 0.3


def test_linkage_matches_scipy_on_standardised_metrics():
    frame, _ = planted_groups(seed=2)
    z = StandardScaler().fit_transform(frame.to_numpy())
    for method in ("average", "complete", "ward"):
        res = cluster_models(frame, method=method, n_clusters=2)
        np.testing.assert_allclose(res.linkage, linkage(pdist(z), method=method), atol=1e-10)
        np.testing.assert_allclose(res.matrix.to_numpy(), z, atol=1e-12)


def test_constant_and_nonfinite_metrics_are_dropped_and_reported():
    frame, groups = planted_groups()
    frame["crop/constant"] = 3.0
    frame["rotation/broken"] = 1.0 + np.arange(len(frame))
    frame.loc[frame.index[4], "rotation/broken"] = np.nan
    res = cluster_models(frame, groups=groups)
    assert set(res.dropped) == {"crop/constant", "rotation/broken"}
    assert "constant" in res.dropped["crop/constant"]
    assert frame.index[4] in res.dropped["rotation/broken"]
    assert "crop/constant" not in res.matrix.columns
    base = cluster_models(frame.drop(columns=["crop/constant", "rotation/broken"]), groups=groups)
    np.testing.assert_allclose(res.linkage, base.linkage)


def test_profile_and_dataframe_inputs_agree():
    frame, groups = planted_groups(seed=3)
    a = cluster_models(frame, groups=groups)
    b = cluster_models(to_profile(frame, "mean"), groups=groups)
    np.testing.assert_allclose(a.linkage, b.linkage)
    pd.testing.assert_series_equal(a.labels, b.labels.loc[a.labels.index])
    np.testing.assert_allclose(a.embedding_2d.to_numpy(), b.embedding_2d.loc[a.models].to_numpy())


def test_metric_subset_and_given_cut():
    frame, groups = planted_groups(seed=4)
    cols = list(frame.columns[:4])
    res = cluster_models(frame, metrics=cols, n_clusters=2)
    assert list(res.matrix.columns) == cols and res.n_clusters == 2
    assert res.labels.nunique() == 2


def test_map_is_pca_for_euclidean_distance():
    frame, _ = planted_groups(seed=5)
    res = cluster_models(frame)
    z = StandardScaler().fit_transform(frame.to_numpy())
    pca = PCA(n_components=2).fit(z)
    ref = pca.transform(z)
    got = res.embedding_2d.to_numpy()
    for c in range(2):  # equal up to the sign of each axis
        sign = np.sign(got[:, c] @ ref[:, c])
        np.testing.assert_allclose(got[:, c], sign * ref[:, c], atol=1e-8)
    np.testing.assert_allclose(res.explained, pca.explained_variance_ratio_, rtol=1e-8)


def test_classical_mds_reproduces_planar_distances():
    pts = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [3.0, 4.0], [1.0, 2.0]])
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    coords, explained = classical_mds(d)
    np.testing.assert_allclose(np.linalg.norm(coords[:, None] - coords[None], axis=-1), d,
                               atol=1e-10)  # fmt: skip
    assert explained.sum() == pytest.approx(1.0)


def test_largest_gap_rule():
    # 6 models: merges at 1, 1.1, 1.2 then a jump to 5: cut after 3 merges -> 3 clusters
    assert largest_gap_clusters(np.array([5.1, 1.0, 5.0, 1.1, 1.2])) == 3
    assert largest_gap_clusters(np.array([0.1, 0.2, 0.3, 9.0])) == 2


def test_errors():
    frame, groups = planted_groups()
    with pytest.raises(ValueError, match="at least 3 models"):
        cluster_models(frame.iloc[:2])
    with pytest.raises(ValueError, match="ward"):
        cluster_models(frame, method="ward", distance="cosine")
    with pytest.raises(ValueError, match="method"):
        cluster_models(frame, method="centroid")
    with pytest.raises(ValueError, match="no label"):
        cluster_models(frame, groups={k: v for k, v in list(groups.items())[1:]})
    with pytest.raises(ValueError, match="no usable metric"):
        cluster_models(pd.DataFrame({"a": [1.0] * 4, "b": [2.0] * 4}))
    with pytest.raises(ValueError, match="at most"):
        cluster_models(frame, n_clusters=len(frame) + 1)
    with pytest.raises(ValueError, match="unknown metrics"):
        cluster_models(frame, metrics=["nope"])
    with pytest.raises(TypeError, match="Profile or a pandas DataFrame"):
        cluster_models(frame.to_numpy())


def test_agreement_nmi_and_permutation_p_values():
    from scipy.cluster.hierarchy import fcluster
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    frame, groups = planted_groups(seed=2)
    res = cluster_models(frame, groups=groups, n_permutations=199)
    assert res.nmi == pytest.approx(1.0) and res.ari_p_value == pytest.approx(1 / 200)
    assert res.nmi_p_value == pytest.approx(1 / 200)
    # a second grouping, coarser than the clusters: cut at its own number of groups
    coarse = {m: g == "method0" for m, g in groups.items()}
    got = res.agreement(coarse, n_permutations=99, seed=1)
    labels = fcluster(res.linkage, 2, criterion="maxclust")
    truth = [str(coarse[m]) for m in res.models]
    assert got["n_clusters"] == 2
    assert got["ari"] == pytest.approx(adjusted_rand_score(truth, labels))
    assert got["nmi"] == pytest.approx(normalized_mutual_info_score(truth, labels))
    # scrambled labels: the p-value is not small
    rng = np.random.default_rng(5)
    names = list(groups)
    scrambled = dict(zip(names, rng.permutation([groups[n] for n in names]), strict=True))
    assert res.agreement(scrambled, n_permutations=199)["ari_p_value"] > 0.05


def test_degenerate_groupings_are_flagged():
    frame, groups = planted_groups(seed=3)
    own = {m: m for m in frame.index}
    with pytest.warns(UserWarning, match="degenerate"):
        res = cluster_models(frame, groups=own)
    assert np.isnan(res.adjusted_rand_index) and np.isnan(res.nmi)
    assert res.agreement({m: "one" for m in frame.index})["degenerate"]


def test_vectorised_ari_nmi_match_scikit_learn():
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from manifold.zoo.clustering import _ari_nmi

    rng = np.random.default_rng(7)
    labels = rng.integers(0, 4, 30)
    truth = rng.integers(0, 3, size=(20, 30))
    truth[0] = labels % 3  # one labeling close to the clusters
    ari, nmi = _ari_nmi(truth, labels)
    for i, row in enumerate(truth):
        assert ari[i] == pytest.approx(adjusted_rand_score(row, labels), abs=1e-12)
        assert nmi[i] == pytest.approx(normalized_mutual_info_score(row, labels), abs=1e-12)


def test_model_map_names_models_only_while_readable():
    import matplotlib

    matplotlib.use("Agg")
    from manifold.zoo.figures import MAP_LABELS

    small, groups = planted_groups(n_per_group=3, seed=4)
    fig = cluster_models(small, groups=groups).plot_map()
    assert len(fig.axes[0].texts) == len(small)
    big, big_groups = planted_groups(n_per_group=MAP_LABELS // 3 + 1, seed=5)
    fig = cluster_models(big, groups=big_groups).plot_map()
    assert len(fig.axes[0].texts) == 0 and str(len(big)) in fig.axes[0].get_title()


def _profile_with_se(values: dict, ses: dict) -> Profile:
    """Models × {metric: value} with a standard error row per value."""
    rows = []
    for model, metrics in values.items():
        for metric, value in metrics.items():
            rows.append([model, "semantic", metric, "value", value])
            rows.append([model, "semantic", metric, "se", ses[model][metric]])
    return Profile(
        pd.DataFrame(rows, columns=["model", "manifold", "metric", "statistic", "value"])
    )


def test_metrics_whose_differences_are_within_their_standard_errors_are_flagged():
    from scipy.stats import chi2

    rng = np.random.default_rng(5)
    models = [f"m{i}" for i in range(6)]
    signal = dict(zip(models, [0.0, 0.1, 0.2, 5.0, 5.1, 5.2], strict=True))
    noise = dict(zip(models, rng.normal(size=6) * 0.01, strict=True))
    values = {m: {"signal": signal[m], "noise": noise[m]} for m in models}
    ses = {m: {"signal": 0.05, "noise": 0.02 + 0.01 * i} for i, m in enumerate(models)}
    prof = _profile_with_se(values, ses)
    with pytest.warns(UserWarning, match=r"in 1 of 2 metrics .* semantic/noise"):
        result = cluster_models(prof)
    assert result.within_noise == ["semantic/noise"]
    # Cochran's Q and its chi-square tail, from numpy and scipy
    x = np.array(list(noise.values()))
    s = np.array([ses[m]["noise"] for m in models])
    w = 1 / s**2
    q = float((w * (x - (w * x).sum() / w.sum()) ** 2).sum())
    row = result.noise.loc["semantic/noise"]
    assert row["q"] == pytest.approx(q, rel=1e-12)
    assert row["p_value"] == pytest.approx(chi2.sf(q, 5), rel=1e-12)
    assert row["spread"] == pytest.approx(np.std(x), rel=1e-12)
    assert row["se"] == pytest.approx(np.median(s), rel=1e-12)
    assert result.noise.loc["semantic/signal", "p_value"] < 1e-12
    # without standard errors, or for a statistic they do not describe: nothing to say
    plain = Profile(prof.table[prof.table["statistic"] != "se"])
    assert cluster_models(plain).noise is None
    assert cluster_models(prof.table.pivot_table(
        index="model", columns="metric", values="value")).noise is None  # fmt: skip


def test_the_noise_flag_holds_its_level():
    # pure noise: models share one true value, each measured with its own known error; the flag
    # (p > 0.05) fires 95 % of the time; with real differences of a few errors, almost never
    from manifold.zoo._matrix import noise_table

    rng = np.random.default_rng(7)
    n_models, n_metrics = 12, 4000
    models = [f"m{i}" for i in range(n_models)]
    se = rng.uniform(0.5, 2.0, size=(n_models, n_metrics))
    for shift, low, high in ((0.0, 0.935, 0.965), (4.0, 0.0, 0.01)):
        truth = shift * rng.normal(size=(n_models, 1)) * np.ones((1, n_metrics))
        x = truth + se * rng.normal(size=(n_models, n_metrics))
        cols = [f"semantic/m{j}" for j in range(n_metrics)]
        frame = pd.DataFrame(x, index=models, columns=cols)
        rows = [[m, "semantic", f"m{j}", "se", se[i, j]]
                for i, m in enumerate(models) for j in range(n_metrics)]  # fmt: skip
        prof = Profile(pd.DataFrame(rows, columns=["model", "manifold", "metric", "statistic",
                                                   "value"]))  # fmt: skip
        flagged = noise_table(prof, frame, "mean")["within_noise"].mean()
        assert low <= flagged < high, (shift, flagged)


def test_the_report_names_the_metrics_within_noise(tmp_path):
    from manifold.report import write_report

    models = [f"m{i}" for i in range(4)]
    values = {m: {"a": float(i), "b": 0.001 * i} for i, m in enumerate(models)}
    ses = {m: {"a": 0.01, "b": 1.0} for m in models}  # b: Q = 5e-6, far inside its chi-square
    prof = _profile_with_se(values, ses)
    with pytest.warns(UserWarning, match="standard error"):
        result = cluster_models(prof)
    page = write_report(prof, tmp_path / "r.html", clusters=result).read_text()
    assert "Within noise:</b> in 1 of 2" in page and "semantic/b" in page
