"""ClusterResult.agreement: nearest-neighbour rates and agreement within strata, by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.neighbors import NearestNeighbors

from manifold.zoo import cluster_models


def nested(seed=0, noise=0.4):
    """4 strata (e.g. recipes) x 2 labels (e.g. objectives) x 3 seeds, in 6 metrics.

    The stratum moves the metrics a lot; the label moves them a little, the same way in every
    stratum, so the label is recoverable within strata but not by a global two-cluster cut.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 6)) * 10
    shift = rng.normal(size=6) * 2
    rows, label, stratum = {}, {}, {}
    for s in range(4):
        for lab in range(2):
            for k in range(3):
                name = f"s{s}_l{lab}_{k}"
                rows[name] = centres[s] + lab * shift + noise * rng.normal(size=6)
                label[name], stratum[name] = f"l{lab}", f"s{s}"
    frame = pd.DataFrame(rows).T
    frame.columns = [f"semantic/m{j}" for j in range(6)]
    return frame, label, stratum


def test_nearest_neighbour_rate_by_hand():
    frame, label, stratum = nested()
    res = cluster_models(frame)
    got = res.agreement(label, n_permutations=99, within=stratum)
    nn = NearestNeighbors(n_neighbors=2).fit(res.matrix.to_numpy())
    _, idx = nn.kneighbors(res.matrix.to_numpy())
    names = res.models
    same = [label[names[i]] == label[names[j]] for i, j in idx]
    assert got["nn_rate"] == pytest.approx(np.mean(same))
    assert got["nn_rate"] > got["nn_chance"] + 0.2  # chance within strata: 2 of 5 mates


def test_within_ari_by_hand_and_strata_not_the_global_cut():
    frame, label, stratum = nested(seed=1)
    res = cluster_models(frame)
    got = res.agreement(label, n_permutations=199, within=stratum)
    # the global two-cluster cut follows the strata, not the label
    assert got["ari"] < 0.3
    # each stratum clustered on its own (same z-scored matrix, distance and linkage)
    total, aris, nmis = 0, 0.0, 0.0
    for s in sorted(set(stratum.values())):
        members = [m for m in res.models if stratum[m] == s]
        tree = linkage(pdist(res.matrix.loc[members].to_numpy()), method="average")
        cut = fcluster(tree, 2, criterion="maxclust")
        truth = [label[m] for m in members]
        aris += len(members) * adjusted_rand_score(truth, cut)
        nmis += len(members) * normalized_mutual_info_score(truth, cut)
        total += len(members)
    assert got["within_ari"] == pytest.approx(aris / total)
    assert got["within_nmi"] == pytest.approx(nmis / total)
    assert got["within_ari"] == pytest.approx(1.0)
    assert got["within_ari_p_value"] == pytest.approx(1 / 200)
    assert got["n_strata"] == 4


def test_shuffles_stay_inside_strata():
    frame, label, stratum = nested(seed=2)
    res = cluster_models(frame)
    # a label equal to the stratum cannot move when shuffled inside strata
    same = res.agreement(stratum, n_permutations=50, within=stratum)
    assert same["nn_chance"] == pytest.approx(same["nn_rate"]) and same["nn_p_value"] == 1.0
    assert np.isnan(same["within_ari"])  # every stratum has one label: nothing to recover
    # across all models the same label is far above chance
    free = res.agreement(stratum, n_permutations=50)
    assert free["nn_p_value"] == pytest.approx(1 / 51) and free["nn_chance"] < 0.5


def test_within_rates_against_a_direct_permutation_loop():
    frame, label, stratum = nested(seed=3, noise=3.0)  # noisy: the label is only partly there
    res = cluster_models(frame)
    got = res.agreement(label, n_permutations=400, seed=4, within=stratum)
    names = res.models
    nn = NearestNeighbors(n_neighbors=2).fit(res.matrix.to_numpy())
    nearest = nn.kneighbors(res.matrix.to_numpy())[1][:, 1]
    codes = np.array([label[m] for m in names])
    strata = np.array([stratum[m] for m in names])
    rng = np.random.default_rng(11)
    null = []
    for _ in range(4000):
        shuffled = codes.copy()
        for s in np.unique(strata):
            idx = np.flatnonzero(strata == s)
            shuffled[idx] = codes[idx[rng.permutation(idx.size)]]
        null.append(np.mean(shuffled[nearest] == shuffled))
    null = np.array(null)
    # same null distribution (independent draws): means agree to Monte Carlo error
    assert got["nn_chance"] == pytest.approx(null.mean(), abs=4 * null.std() / np.sqrt(400))
    p_direct = (1 + (null >= got["nn_rate"]).sum()) / (1 + null.size)
    assert got["nn_p_value"] == pytest.approx(p_direct, abs=0.05)
