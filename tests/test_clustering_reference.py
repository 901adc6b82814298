"""cluster_models and ClusterResult.agreement against scipy, scikit-learn and direct loops.

Every option at a value other than its default, a cut that differs from the number of groups,
and the permutation p-values reproduced draw by draw from the seed.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from manifold.results import COLUMNS, Profile
from manifold.zoo import cluster_models
from manifold.zoo.clustering import DISTANCES, LINKAGE_METHODS, classical_mds


def loose_groups(seed=0, sizes=(4, 4, 4), separation=1.5, p=6):
    """Groups that overlap: the clusters recover them only in part (p-values not at 1/(P+1))."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), p)) * separation
    rows, groups = {}, {}
    for g, size in enumerate(sizes):
        for j in range(size):
            name = f"g{g}_{j}"
            rows[name] = centres[g] + rng.normal(size=p)
            groups[name] = f"group{g}"
    frame = pd.DataFrame(rows).T
    frame.columns = [f"semantic/m{j}" for j in range(p)]
    return frame, groups


def zscored(frame):
    values = frame.to_numpy()
    return (values - values.mean(axis=0)) / values.std(axis=0)


def p_value(null, observed):
    return (1 + np.sum(np.asarray(null) >= observed - 1e-12)) / (1 + len(null))


@pytest.mark.parametrize("n_clusters", [2, 4])
def test_groups_with_a_cut_other_than_their_number(n_clusters):
    frame, groups = loose_groups(seed=0)
    res = cluster_models(frame, groups=groups, n_clusters=n_clusters, n_permutations=60, seed=3)
    labels = fcluster(linkage(pdist(zscored(frame)), "average"), n_clusters, "maxclust")
    truth = [groups[m] for m in res.models]
    assert res.n_clusters == n_clusters and res.n_clusters_rule == "given"
    np.testing.assert_array_equal(res.labels.to_numpy(), labels)
    ari, nmi = adjusted_rand_score(truth, labels), normalized_mutual_info_score(truth, labels)
    assert res.adjusted_rand_index == pytest.approx(ari, abs=1e-12)
    assert res.nmi == pytest.approx(nmi, abs=1e-12)
    # a cut at the number of groups (3) gives other values
    at_three = fcluster(linkage(pdist(zscored(frame)), "average"), 3, "maxclust")
    assert nmi != pytest.approx(normalized_mutual_info_score(truth, at_three))
    # the p-values: the labels shuffled across models, draw by draw from the seed
    rng = np.random.default_rng(3)
    shuffled = [np.array(truth)[rng.permutation(len(truth))] for _ in range(60)]
    null_ari = [adjusted_rand_score(s, labels) for s in shuffled]
    null_nmi = [normalized_mutual_info_score(s, labels) for s in shuffled]
    assert res.ari_p_value == pytest.approx(p_value(null_ari, ari))
    assert res.nmi_p_value == pytest.approx(p_value(null_nmi, nmi))
    assert 1 / 61 < res.ari_p_value < 1  # neither at the floor nor at 1: the case discriminates


@pytest.mark.parametrize("distance", [d for d in DISTANCES if d != "euclidean"])
def test_every_distance(distance):
    frame, groups = loose_groups(seed=2)
    res = cluster_models(frame, distance=distance, method="complete", n_clusters=3)
    dist = pdist(zscored(frame), metric=distance)
    np.testing.assert_allclose(res.distances, dist, atol=1e-12)
    np.testing.assert_allclose(res.linkage, linkage(dist, method="complete"), atol=1e-10)
    coords, explained = classical_mds(squareform(dist))
    np.testing.assert_allclose(res.embedding_2d.to_numpy(), coords, atol=1e-10)
    assert res.distance == distance and res.method == "complete"
    # ... and the nearest neighbours of the agreement are those of this distance
    square = squareform(dist)
    np.fill_diagonal(square, np.inf)
    nearest = square.argmin(axis=1)
    codes = np.array([groups[m] for m in res.models])
    got = res.agreement(groups, n_permutations=0)
    assert got["nn_rate"] == pytest.approx(np.mean(codes[nearest] == codes))


@pytest.mark.parametrize("method", [m for m in LINKAGE_METHODS if m not in ("average", "ward")])
def test_every_linkage_method(method):
    frame, _ = loose_groups(seed=3)
    res = cluster_models(frame, method=method, n_clusters=2)
    np.testing.assert_allclose(res.linkage, linkage(pdist(zscored(frame)), method=method),
                               atol=1e-10)  # fmt: skip
    labels = fcluster(res.linkage, 2, "maxclust")
    np.testing.assert_array_equal(res.labels.to_numpy(), labels)


def test_statistic_picks_the_per_point_summary():
    frame, groups = loose_groups(seed=4)
    rng = np.random.default_rng(0)
    medians = frame * rng.uniform(0.2, 3.0, size=frame.shape)
    rows = []
    for model in frame.index:
        for column in frame.columns:
            manifold_name, metric = column.split("/")
            rows.append([model, manifold_name, metric, "mean", frame.loc[model, column]])
            rows.append([model, manifold_name, metric, "median", medians.loc[model, column]])
    prof = Profile(pd.DataFrame(rows, columns=COLUMNS))
    res = cluster_models(prof, statistic="median", n_permutations=0)
    np.testing.assert_allclose(res.matrix.loc[frame.index].to_numpy(), zscored(medians),
                               atol=1e-12)  # fmt: skip
    mean = cluster_models(prof, n_permutations=0)
    np.testing.assert_allclose(mean.matrix.loc[frame.index].to_numpy(), zscored(frame),
                               atol=1e-12)  # fmt: skip


def test_agreement_cut_and_largest_gap_without_groups():
    frame, groups = loose_groups(seed=5, sizes=(3, 5, 4))
    res = cluster_models(frame, n_permutations=0)
    assert res.n_clusters_rule == "largest gap"
    heights = np.sort(res.linkage[:, 2])
    expected = len(frame) - (int(np.argmax(np.diff(heights))) + 1)
    assert res.n_clusters == expected
    truth = [groups[m] for m in res.models]
    for k in (2, 5):
        got = res.agreement(groups, n_permutations=0, n_clusters=k)
        labels = fcluster(res.linkage, k, "maxclust")
        assert got["n_clusters"] == k and got["n_groups"] == 3
        assert got["ari"] == pytest.approx(adjusted_rand_score(truth, labels), abs=1e-12)
        assert got["nmi"] == pytest.approx(normalized_mutual_info_score(truth, labels), abs=1e-12)


def strata_data(seed=0):
    """3 strata of 6 models; inside each, 2 labels that the metrics separate only in part."""
    rng = np.random.default_rng(seed)
    rows, label, stratum = {}, {}, {}
    centres = rng.normal(size=(3, 5)) * 6
    shift = rng.normal(size=5) * 1.2
    for s in range(3):
        for j in range(6):
            name = f"s{s}_{j}"
            lab = j % 2
            rows[name] = centres[s] + lab * shift + rng.normal(size=5)
            label[name], stratum[name] = f"l{lab}", f"s{s}"
    frame = pd.DataFrame(rows).T
    frame.columns = [f"semantic/m{j}" for j in range(5)]
    return frame, label, stratum


def test_within_strata_statistics_and_p_values_draw_by_draw():
    frame, label, stratum = strata_data(seed=0)
    res = cluster_models(frame, n_permutations=0)
    n_perm, seed = 40, 6
    got = res.agreement(label, n_permutations=n_perm, seed=seed, within=stratum)
    names = res.models
    codes = np.array([label[m] for m in names])
    strata = np.array([stratum[m] for m in names])
    square = squareform(res.distances)

    def within(labels_of):
        """Size-weighted ARI and NMI of each stratum clustered on its own."""
        total, ari, nmi = 0, 0.0, 0.0
        for s in pd.unique(strata):
            idx = np.flatnonzero(strata == s)
            sub = linkage(squareform(square[np.ix_(idx, idx)], checks=False), method="average")
            cut = fcluster(sub, len(set(codes[idx])), "maxclust")
            ari += idx.size * adjusted_rand_score(labels_of[idx], cut)
            nmi += idx.size * normalized_mutual_info_score(labels_of[idx], cut)
            total += idx.size
        return ari / total, nmi / total

    w_ari, w_nmi = within(codes)
    assert got["within_ari"] == pytest.approx(w_ari, abs=1e-12)
    assert got["within_nmi"] == pytest.approx(w_nmi, abs=1e-12)
    # the draws: first the shuffles across models (behind the ARI/NMI p-values), then, stratum
    # by stratum, one shuffle inside the stratum for each permutation
    rng = np.random.default_rng(seed)
    for _ in range(n_perm):
        rng.permutation(len(codes))
    shuffled = np.stack([codes] * n_perm)
    for s in pd.unique(strata):
        idx = np.flatnonzero(strata == s)
        for row in shuffled:
            row[idx] = row[idx[rng.permutation(idx.size)]]
    nearest = np.array([np.argmin(np.where(np.arange(len(codes)) == i, np.inf, square[i]))
                        for i in range(len(codes))])  # fmt: skip
    null_nn = [np.mean(row[nearest] == row) for row in shuffled]
    assert got["nn_rate"] == pytest.approx(np.mean(codes[nearest] == codes))
    assert got["nn_chance"] == pytest.approx(np.mean(null_nn))
    assert got["nn_p_value"] == pytest.approx(p_value(null_nn, got["nn_rate"]))
    nulls = [within(row) for row in shuffled]
    assert got["within_ari_p_value"] == pytest.approx(p_value([a for a, _ in nulls], w_ari))
    assert got["within_nmi_p_value"] == pytest.approx(p_value([b for _, b in nulls], w_nmi))
    assert 1 / 41 < got["within_ari_p_value"] < 1 and 0 < w_ari < 1


def test_strata_without_two_labels_or_with_one_model_per_label_take_no_part():
    frame, label, stratum = strata_data(seed=2)
    # s1 gets a third label (3 labels in all, 2 in s0: each stratum is cut at its own count);
    # s2 gets one label only; a fourth stratum has one model per label
    label = {m: ("l0" if stratum[m] == "s2" else lab) for m, lab in label.items()}
    label.update({"s1_4": "l2", "s1_5": "l2"})
    stratum = {**stratum, "s0_0": "s3", "s0_1": "s3"}
    res = cluster_models(frame, n_permutations=0)
    got = res.agreement(label, n_permutations=0, within=stratum)
    names = res.models
    square = squareform(res.distances)
    total, ari, nmi = 0, 0.0, 0.0
    for s, n_labels in (("s0", 2), ("s1", 3)):
        idx = np.array([i for i, m in enumerate(names) if stratum[m] == s])
        truth = [label[names[i]] for i in idx]
        sub = linkage(squareform(square[np.ix_(idx, idx)], checks=False), method="average")
        cut = fcluster(sub, n_labels, "maxclust")
        ari += idx.size * adjusted_rand_score(truth, cut)
        nmi += idx.size * normalized_mutual_info_score(truth, cut)
        total += idx.size
    assert got["within_ari"] == pytest.approx(ari / total, abs=1e-12)
    assert got["within_nmi"] == pytest.approx(nmi / total, abs=1e-12)
    assert got["n_strata"] == 4 and got["n_groups"] == 3
