"""Hierarchical clustering of models by the geometry of their representations."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from manifold._validation import Integral, NoneOK, Options, Seed, validate_params
from manifold.typing import Grouping, SeedLike
from manifold.zoo._matrix import as_matrix, noise_table, split_usable, warn_dropped, zscore

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from manifold.results import Profile
    from manifold.zoo.compare import SimilarityMatrix

__all__ = ["ClusterResult", "DISTANCES", "LINKAGE_METHODS", "cluster_models"]

#: Linkage methods with monotone merge heights (so a cut at a height is well defined).
LINKAGE_METHODS = ("average", "complete", "single", "ward", "weighted")
#: Distances between z-scored metric vectors (names as in :func:`scipy.spatial.distance.pdist`).
DISTANCES = ("chebyshev", "cityblock", "correlation", "cosine", "euclidean")


@dataclass
class ClusterResult:
    """The outcome of :func:`cluster_models`.

    Attributes:
        matrix: The z-scored model × metric matrix that was clustered (used metrics only).
        linkage: scipy linkage matrix, shape (n_models − 1, 4).
        labels: Cluster label (1..n_clusters) of each model, indexed by model.
        n_clusters: Number of clusters at the cut.
        n_clusters_rule: How ``n_clusters`` was chosen: ``"given"``, ``"groups"`` or
            ``"largest gap"``.
        embedding_2d: Classical-MDS coordinates (columns ``mds1``, ``mds2``), indexed by model.
        explained: Share of the positive MDS eigenvalues carried by each of the two axes.
        distances: The condensed distance vector (as from ``pdist``).
        dropped: Metric -> why it was left out (constant or non-finite across models).
        groups: The grouping given, aligned to the models (or None).
        adjusted_rand_index: ARI of ``labels`` against ``groups`` (or None).
        nmi: Normalised mutual information of ``labels`` and ``groups`` (or None).
        ari_p_value: Label-permutation p-value of the ARI (or None; see :meth:`agreement`).
        nmi_p_value: The same for the NMI.
        method: Linkage method.
        distance: Distance name.
        noise: With standard errors in the profile (``profile(..., n_bootstrap=B)``) and
            ``statistic="mean"``, per clustered metric: its ``spread`` across models, median
            ``se``, ``ratio``, Cochran's ``q``, its ``p_value`` and ``within_noise`` (the models'
            differences cannot be told from their sampling error: ``Q = Σ (x_m − x̄)² / s_m²``
            against χ² with n − 1 degrees of freedom, p > 0.05). None otherwise.
    """

    matrix: pd.DataFrame
    linkage: np.ndarray
    labels: pd.Series
    n_clusters: int
    n_clusters_rule: str
    embedding_2d: pd.DataFrame
    explained: np.ndarray
    distances: np.ndarray
    dropped: dict[str, str] = field(default_factory=dict)
    groups: pd.Series | None = None
    adjusted_rand_index: float | None = None
    nmi: float | None = None
    ari_p_value: float | None = None
    nmi_p_value: float | None = None
    method: str = "average"
    distance: str = "euclidean"
    noise: pd.DataFrame | None = None

    @property
    def within_noise(self) -> list[str]:
        """Clustered metrics whose differences between models are within their sampling error."""
        if self.noise is None:
            return []
        return [str(m) for m in self.noise.index[self.noise["within_noise"]]]

    @validate_params(
        {
            "n_permutations": [Integral(0, None)],
            "seed": [Seed(), NoneOK],
            "n_clusters": [Integral(1, None), NoneOK],
        }
    )
    def agreement(
        self,
        groups: Grouping,
        n_permutations: int = 999,
        seed: SeedLike = 0,
        n_clusters: int | None = None,
        within: Grouping | None = None,
    ) -> dict[str, float | int | bool]:
        """How well the tree recovers a grouping, with label-permutation p-values.

        The tree is cut into as many clusters as ``groups`` has distinct labels (or
        ``n_clusters``); the adjusted Rand index (ARI, 0 = chance, 1 = identical) and the
        normalised mutual information (NMI, arithmetic normalisation) compare the clusters with
        the groups. The p-values shuffle the group labels across models ``n_permutations``
        times: p = (1 + #{stat_perm >= stat}) / (1 + n_permutations).

        ``nn_rate`` is the share of models whose nearest neighbour (smallest distance, ties to
        the first in model order) has the same label, next to ``nn_chance``, its mean under the
        permutations, and ``nn_p_value``.

        With ``within`` (strata, e.g. the recipe, or "has colour augmentation"), the question
        becomes conditional: does the geometry know the label *beyond* the strata?

        * ``nn_p_value`` and ``nn_chance`` then shuffle the labels only inside each stratum;
        * ``within_ari`` / ``within_nmi``: each stratum's models are clustered on their own
          (same distance and linkage), cut at the number of labels in the stratum, compared with
          the labels, and averaged with weights proportional to the stratum's size; strata with
          one label, or one model per label, take no part. Their p-values shuffle the labels
          inside strata.

        A grouping with one group, or with every model in its own group, is degenerate: any
        clustering "agrees" with it trivially, so the statistics are NaN and ``degenerate`` is
        True.

        Args:
            groups: Mapping model -> label (e.g. training method or augmentation recipe).
            n_permutations: Label permutations for the p-values (0: no p-value).
            seed: Seed of the permutations (int or numpy Generator).
            n_clusters: Cut the tree here instead of at the number of groups.
            within: Mapping model -> stratum (``None``: no strata).

        Returns:
            Dict with ``ari``, ``ari_p_value``, ``nmi``, ``nmi_p_value``, ``nn_rate``,
            ``nn_chance``, ``nn_p_value``, ``n_groups``, ``n_clusters``, ``degenerate``, and with
            ``within`` also ``n_strata``, ``within_ari``, ``within_ari_p_value``,
            ``within_nmi``, ``within_nmi_p_value``.
        """
        from scipy.cluster.hierarchy import fcluster

        from manifold._backend import numpy_generator

        aligned = align_groups(groups, self.models).astype(str).to_numpy()
        strata = None if within is None else align_groups(within, self.models).astype(str)
        n_groups = len(np.unique(aligned))
        k = n_groups if n_clusters is None else n_clusters
        out: dict[str, float | int | bool] = {"n_groups": n_groups, "n_clusters": k,
                               "degenerate": n_groups in (1, len(aligned))}  # fmt: skip
        nan = float("nan")
        keys = ["ari", "ari_p_value", "nmi", "nmi_p_value", "nn_rate", "nn_chance", "nn_p_value"]
        if strata is not None:
            out["n_strata"] = int(strata.nunique())
            keys += ["within_ari", "within_ari_p_value", "within_nmi", "within_nmi_p_value"]
        if out["degenerate"]:
            out.update(dict.fromkeys(keys, nan))
            return out
        labels = fcluster(self.linkage, min(k, len(aligned)), criterion="maxclust")
        codes = np.unique(aligned, return_inverse=True)[1]
        ari, nmi = _ari_nmi(codes[None, :], labels - 1)
        out["ari"], out["nmi"] = float(ari[0]), float(nmi[0])
        nearest = _nearest_neighbours(self.distances, len(codes))
        out["nn_rate"] = float((codes[nearest] == codes).mean())
        within_parts = None if strata is None else self._strata_clusterings(codes, strata)
        if within_parts is not None:
            out["within_ari"], out["within_nmi"] = _weighted_ari_nmi(codes[None, :], within_parts)
        elif strata is not None:
            out["within_ari"] = out["within_nmi"] = nan
        if n_permutations == 0:
            out.update({key: nan for key in keys if key.endswith("p_value")}, nn_chance=nan)
            return out
        rng = numpy_generator(seed)
        shuffled = np.stack([codes[rng.permutation(codes.size)] for _ in range(n_permutations)])
        perm_ari, perm_nmi = _ari_nmi(shuffled, labels - 1)
        out["ari_p_value"] = _p_value(perm_ari, out["ari"])
        out["nmi_p_value"] = _p_value(perm_nmi, out["nmi"])
        if strata is not None:
            members = [np.flatnonzero(strata.to_numpy() == s) for s in pd.unique(strata)]
            shuffled = np.stack([codes] * n_permutations)
            for idx in members:
                for row in shuffled:
                    row[idx] = row[idx[rng.permutation(idx.size)]]
        perm_nn = (shuffled[:, nearest] == shuffled).mean(axis=1)
        out["nn_chance"] = float(perm_nn.mean())
        out["nn_p_value"] = _p_value(perm_nn, out["nn_rate"])
        if strata is not None:
            if within_parts is None:
                out["within_ari_p_value"] = out["within_nmi_p_value"] = nan
            else:
                perm_wari, perm_wnmi = _weighted_ari_nmi(shuffled, within_parts)
                out["within_ari_p_value"] = _p_value(perm_wari, out["within_ari"])
                out["within_nmi_p_value"] = _p_value(perm_wnmi, out["within_nmi"])
        return out

    def _strata_clusterings(
        self, codes: np.ndarray, strata: pd.Series
    ) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """Per usable stratum: its members and their own clustering (cut at its label count)."""
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import squareform

        square = squareform(self.distances)
        parts = []
        for stratum in pd.unique(strata):
            idx = np.flatnonzero(strata.to_numpy() == stratum)
            n_labels = len(np.unique(codes[idx]))
            if n_labels < 2 or n_labels == idx.size:
                continue
            sub = linkage(squareform(square[np.ix_(idx, idx)], checks=False), method=self.method)
            parts.append((idx, fcluster(sub, n_labels, criterion="maxclust") - 1))
        return parts or None

    @property
    def models(self) -> list[str]:
        """Model names, in the order of the matrix rows."""
        return list(self.matrix.index)

    def plot_dendrogram(self, groups: Grouping | None = None, ax: Axes | None = None) -> Figure:
        """Dendrogram with leaf labels coloured by ``groups`` (default: the stored grouping)."""
        from manifold.zoo.figures import plot_dendrogram

        return plot_dendrogram(self, groups=groups, ax=ax)

    def plot_map(self, groups: Grouping | None = None, ax: Axes | None = None) -> Figure:
        """2-D MDS map of the models coloured by ``groups`` (default: the stored grouping)."""
        from manifold.zoo.figures import plot_model_map

        return plot_model_map(self, groups=groups, ax=ax)


def _ari_nmi(truth: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted Rand index and NMI (arithmetic mean normalisation) of many labelings at once.

    ``truth``: ``(P, n)`` integer codes (one labeling per row); ``labels``: ``(n,)`` codes.
    The contingency tables of all rows come from one ``bincount``; the formulas are those of
    scikit-learn's ``adjusted_rand_score`` and ``normalized_mutual_info_score``.
    """
    p, n = truth.shape
    g, k = int(truth.max()) + 1, int(labels.max()) + 1
    flat = (np.arange(p)[:, None] * g + truth) * k + labels[None, :]
    table = np.bincount(flat.ravel(), minlength=p * g * k).reshape(p, g, k).astype(float)
    rows, cols = table.sum(axis=2), table.sum(axis=1)

    def pairs(x: np.ndarray) -> np.ndarray:
        return x * (x - 1) / 2

    index = pairs(table).sum(axis=(1, 2))
    sum_rows, sum_cols = pairs(rows).sum(axis=1), pairs(cols).sum(axis=1)
    expected = sum_rows * sum_cols / pairs(np.float64(n))
    top = (sum_rows + sum_cols) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        ari = np.where(top == expected, 1.0, (index - expected) / (top - expected))
        joint = table / n
        outer = rows[:, :, None] * cols[:, None, :] / n**2
        ratio = np.where(joint > 0, joint, 1) / np.where(outer > 0, outer, 1)
        mi = np.where(joint > 0, joint * np.log(ratio), 0.0).sum(axis=(1, 2))

        def entropy(m: np.ndarray) -> np.ndarray:
            q = m / n
            return -np.where(q > 0, q * np.log(np.where(q > 0, q, 1)), 0.0).sum(axis=1)

        norm = (entropy(rows) + entropy(cols)) / 2
        nmi = np.where(norm > 0, np.maximum(mi, 0.0) / norm, 1.0)
    return ari, nmi


def _p_value(null: np.ndarray, observed: float, tol: float = 1e-12) -> float:
    """(1 + #{null >= observed}) / (1 + #null), ties within ``tol`` counted as reached."""
    return (1 + int((null >= observed - tol).sum())) / (1 + null.size)


def _nearest_neighbours(distances: np.ndarray, n: int) -> np.ndarray:
    """Index of each model's nearest other model, from a condensed distance vector."""
    from scipy.spatial.distance import squareform

    square = squareform(distances).astype(float)
    np.fill_diagonal(square, np.inf)
    return np.argmin(square, axis=1)


def _weighted_ari_nmi(
    truth: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Size-weighted mean over strata of the ARI and NMI of each stratum's own clustering.

    ``truth``: ``(P, n)`` label codes; returns arrays of P values (floats when P is 1).
    """
    weights = np.array([idx.size for idx, _ in parts], dtype=float)
    aris, nmis = [], []
    for idx, labels in parts:
        sub = truth[:, idx]
        recoded = np.unique(sub, return_inverse=True)[1].reshape(sub.shape)
        ari, nmi = _ari_nmi(recoded, labels)
        aris.append(ari)
        nmis.append(nmi)
    ari = np.average(np.stack(aris), axis=0, weights=weights)
    nmi = np.average(np.stack(nmis), axis=0, weights=weights)
    if truth.shape[0] == 1:
        return float(ari[0]), float(nmi[0])
    return ari, nmi


def align_groups(groups: Grouping, models: list[str]) -> pd.Series:
    """A grouping as a Series over ``models``; every model must have a group."""
    series = groups if isinstance(groups, pd.Series) else pd.Series(dict(groups))
    series.index = series.index.map(str)
    missing = [m for m in models if m not in series.index]
    if missing:
        raise ValueError(f"groups has no label for models {missing}")
    out = series.loc[models]
    if out.isna().any():
        raise ValueError(f"groups has missing labels for models {list(out.index[out.isna()])}")
    return out.rename("group")


def largest_gap_clusters(heights: np.ndarray) -> int:
    """Number of clusters at the largest gap between consecutive merge heights.

    With sorted merge heights h_1 ≤ … ≤ h_{n−1} of n models, the gap g_i = h_{i+1} − h_i is
    largest at i*; cutting inside that gap leaves n − i* clusters (at least 2).
    """
    h = np.sort(np.asarray(heights, dtype=float))
    n = h.size + 1
    if h.size < 2:
        return 1
    gaps = np.diff(h)
    i = int(np.argmax(gaps)) + 1  # merges done before the gap
    return n - i


def classical_mds(distances: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Classical (Torgerson) MDS of a square distance matrix.

    B = −½ J D² J with J = I − 11ᵀ/n; coordinates are the top eigenvectors of B scaled by the
    square roots of their eigenvalues. For Euclidean distances this equals PCA of the data.

    Returns:
        ``(coords, explained)``: (n, n_components) and the share of the positive eigenvalues.
    """
    d2 = np.asarray(distances, dtype=float) ** 2
    n = d2.shape[0]
    j = np.eye(n) - 1.0 / n
    b = -0.5 * j @ d2 @ j
    evals, evecs = np.linalg.eigh((b + b.T) / 2)
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    pos = np.clip(evals, 0.0, None)
    coords = evecs[:, :n_components] * np.sqrt(pos[:n_components])
    # a deterministic sign: the largest-magnitude coordinate on each axis is positive
    for c in range(coords.shape[1]):
        col = coords[:, c]
        if col[np.argmax(np.abs(col))] < 0:
            coords[:, c] = -col
    total = pos.sum()
    explained = pos[:n_components] / total if total > 0 else np.zeros(n_components)
    if coords.shape[1] < n_components:
        coords = np.pad(coords, ((0, 0), (0, n_components - coords.shape[1])))
    return coords, explained


def _similarity_frame(similarity: SimilarityMatrix | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The square similarity DataFrame and the measure's name, checked."""
    measure = str(getattr(similarity, "measure", "similarity"))
    frame = getattr(similarity, "matrix", similarity)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            "similarity must be a SimilarityMatrix (manifold.similarity_matrix) or a square "
            f"model × model DataFrame, got {type(similarity).__name__}"
        )
    frame = frame.copy()
    frame.index, frame.columns = frame.index.map(str), frame.columns.map(str)
    if frame.shape[0] != frame.shape[1] or list(frame.index) != list(frame.columns):
        raise ValueError(
            f"similarity must be square with the same models as rows and columns in the same "
            f"order, got {frame.shape[0]} rows and {frame.shape[1]} columns"
        )
    if frame.index.has_duplicates:
        raise ValueError(f"model names must be unique; repeated: "
                         f"{sorted(set(frame.index[frame.index.duplicated()]))}")  # fmt: skip
    values = frame.to_numpy(dtype=float)
    off = ~np.eye(len(values), dtype=bool)
    bad = [str(m) for m, row in zip(frame.index, ~np.isfinite(np.where(off, values, 0.0)),
                                    strict=True) if row.any()]  # fmt: skip
    if bad:
        raise ValueError(f"similarity has non-finite values for models {bad[:6]} (e.g. constant "
                         "representations); leave them out before clustering")  # fmt: skip
    if (values[off] > 1 + 1e-9).any():
        raise ValueError(
            f"similarities must be at most 1 (distance 1 − S >= 0), got a maximum of "
            f"{values[off].max():.6g}"
        )
    frame.index.name = "model"
    return frame, measure


def _cluster_similarity(
    similarity: SimilarityMatrix | pd.DataFrame,
    groups: Grouping | None,
    method: str,
    n_clusters: int | None,
    n_permutations: int,
    seed: SeedLike,
) -> ClusterResult:
    """:func:`cluster_models` on the distances ``1 − S`` of a similarity matrix."""
    from scipy.spatial.distance import squareform

    frame, measure = _similarity_frame(similarity)
    n = frame.shape[0]
    if n < 3:
        raise ValueError(f"clustering needs at least 3 models, got {n}")
    if method == "ward":
        raise ValueError("method='ward' needs Euclidean distances between vectors; 1 − S is not "
                         "one: use average, complete, single or weighted")  # fmt: skip
    dist = 1.0 - frame.to_numpy(dtype=float)
    dist = np.clip((dist + dist.T) / 2, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    return _finish_clustering(frame, squareform(dist, checks=False), groups, method,
                              f"1 - {measure}", n_clusters, n_permutations, seed,
                              stacklevel=4)  # fmt: skip


def _finish_clustering(
    matrix: pd.DataFrame,
    dist: np.ndarray,
    groups: Grouping | None,
    method: str,
    distance: str,
    n_clusters: int | None,
    n_permutations: int,
    seed: SeedLike,
    *,
    dropped: dict[str, str] | None = None,
    noise: pd.DataFrame | None = None,
    stacklevel: int = 3,
) -> ClusterResult:
    """Linkage, cut, map and agreement of condensed distances ``dist`` between ``matrix``'s rows.

    The steps :func:`cluster_models` takes after its distances, from metric profiles or from a
    similarity matrix. ``stacklevel`` points a warning at the caller of :func:`cluster_models`.
    """
    import warnings

    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform
    from sklearn.metrics import adjusted_rand_score

    models = list(matrix.index)
    n = len(models)
    aligned = align_groups(groups, models) if groups is not None else None
    tree = linkage(dist, method=method)
    if n_clusters is not None:
        k = n_clusters
        if k > n:
            raise ValueError(f"n_clusters must be at most the number of models ({n}), got {k}")
        rule = "given"
    elif aligned is not None:
        k, rule = int(aligned.nunique()), "groups"
    else:
        k, rule = largest_gap_clusters(tree[:, 2]), "largest gap"
    labels = pd.Series(fcluster(tree, k, criterion="maxclust"), index=models, name="cluster")
    coords, explained = classical_mds(squareform(dist))
    result = ClusterResult(
        matrix=matrix,
        linkage=tree,
        labels=labels,
        n_clusters=int(labels.nunique()),
        n_clusters_rule=rule,
        embedding_2d=pd.DataFrame(coords, index=models, columns=["mds1", "mds2"]),
        explained=explained,
        distances=dist,
        dropped={} if dropped is None else dropped,
        groups=aligned,
        method=method,
        distance=distance,
        noise=noise,
    )
    if aligned is not None:
        result.adjusted_rand_index = float(
            adjusted_rand_score(aligned.astype(str).to_numpy(), labels.to_numpy()))  # fmt: skip
        stats = result.agreement(aligned, n_permutations=n_permutations, seed=seed,
                                 n_clusters=result.n_clusters)  # fmt: skip
        if stats["degenerate"]:
            warnings.warn(
                f"the grouping is degenerate ({stats['n_groups']} group(s) for {n} models): "
                "agreement with it means nothing; ARI and NMI are NaN",
                UserWarning,
                stacklevel=stacklevel,
            )
            result.adjusted_rand_index = float("nan")
        result.nmi, result.ari_p_value, result.nmi_p_value = (
            stats["nmi"], stats["ari_p_value"], stats["nmi_p_value"])  # fmt: skip
    return result


@validate_params(
    {
        "method": [Options(LINKAGE_METHODS)],
        "distance": [Options(DISTANCES)],
        "n_clusters": [Integral(1, None), NoneOK],
        "n_permutations": [Integral(0, None)],
        "seed": [Seed(), NoneOK],
    }
)
def cluster_models(
    profiles: Profile | pd.DataFrame | None = None,
    groups: Grouping | None = None,
    metrics: Iterable[str] | None = None,
    method: str = "average",
    distance: str = "euclidean",
    n_clusters: int | None = None,
    statistic: str = "mean",
    n_permutations: int = 999,
    seed: SeedLike = 0,
    *,
    similarity: SimilarityMatrix | pd.DataFrame | None = None,
) -> ClusterResult:
    """Cluster models hierarchically by their z-scored geometry metrics, or by a similarity.

    Each metric m is z-scored across the models, z_im = (x_im − mean_m) / std_m (population
    standard deviation), so every metric weighs the same whatever its unit; metrics that are
    constant or non-finite for some model are dropped and reported in ``dropped``. Distances
    between the z-scored vectors (``scipy.spatial.distance.pdist``) feed
    ``scipy.cluster.hierarchy.linkage``; the tree is cut into ``n_clusters`` clusters
    (``fcluster(..., criterion="maxclust")``). The number of clusters is, in this order: the
    one given; the number of distinct ``groups``; else the cut inside the largest gap between
    consecutive merge heights (h_{i+1} − h_i largest at i* → n − i* clusters). The 2-D map is
    classical MDS of the same distances (for Euclidean distance: PCA of the z-scored matrix).

    With ``similarity`` (a :class:`~manifold.zoo.SimilarityMatrix` from
    :func:`~manifold.similarity_matrix`, or a square model × model DataFrame of similarities
    at most 1) instead of ``profiles``, the models are clustered on the distances
    ``1 − S_ab`` (symmetrised; the diagonal is 0) with the same linkage, cut, map and
    agreement; ``matrix`` is then the similarity matrix, ``distance`` reads ``"1 - <measure>"``,
    and ``metrics``, ``statistic`` and ``distance`` do not apply.

    Reference: Cosentino, Shekkizhar et al. 2022, "The geometry of self-supervised learning
    models and its impact on transfer learning". They found that SSL models' geometry is *not*
    tied to the training paradigm (contrastive or not); compare the clusters with the
    augmentation recipe as well as with the method.

    Args:
        profiles: A :class:`~manifold.Profile` or a DataFrame (models × metrics); not together
            with ``similarity``.
        groups: Optional mapping model -> label (e.g. training method); sets the default
            ``n_clusters`` and gives the adjusted Rand index.
        metrics: Optional subset of metric columns (``"<manifold>/<metric>"``).
        method: Linkage: one of :data:`LINKAGE_METHODS` (``ward`` needs Euclidean distance).
        distance: One of :data:`DISTANCES`.
        n_clusters: Clusters at the cut (2 ≤ n_clusters ≤ number of models).
        statistic: Statistic of per-point metrics when ``profiles`` is a Profile.
        n_permutations: Label permutations behind ``ari_p_value``/``nmi_p_value`` (with
            ``groups``; see :meth:`ClusterResult.agreement`).
        seed: Seed of those permutations.
        similarity: Cluster on ``1 − S`` of this similarity matrix instead of ``profiles``.

    Returns:
        A :class:`ClusterResult`.

    Raises:
        ValueError: fewer than 3 models, no usable metric, a model without a group, bad options,
            both or neither of ``profiles`` and ``similarity``, a similarity matrix that is not
            square over the same models, or has non-finite values or values above 1.

    Examples:
        >>> import pandas as pd
        >>> m = pd.DataFrame({"a": [0, 0.1, 5, 5.1], "b": [1, 1.1, 0, 0.2]},
        ...                  index=["w", "x", "y", "z"])
        >>> res = cluster_models(m, groups={"w": 1, "x": 1, "y": 2, "z": 2})
        >>> res.labels.tolist(), res.adjusted_rand_index
        ([1, 1, 2, 2], 1.0)
    """
    from scipy.spatial.distance import pdist

    if method == "ward" and distance != "euclidean":
        raise ValueError(f"method='ward' needs distance='euclidean', got {distance!r}")
    if (profiles is None) == (similarity is None):
        raise ValueError("give profiles (metric vectors) or similarity= (a similarity matrix), "
                         f"{'not both' if similarity is not None else 'got neither'}")  # fmt: skip
    if similarity is not None:
        return _cluster_similarity(similarity, groups, method, n_clusters, n_permutations, seed)
    frame = as_matrix(profiles, statistic=statistic, metrics=metrics)
    n = frame.shape[0]
    if n < 3:
        raise ValueError(f"clustering needs at least 3 models, got {n}")
    usable, dropped = split_usable(frame)
    if usable.shape[1] == 0:
        raise ValueError(
            f"no usable metric: all {frame.shape[1]} are constant or non-finite ({dropped})"
        )
    warn_dropped("cluster_models", dropped, frame.shape[1])
    noise = noise_table(profiles, usable, statistic)
    if noise is not None and noise["within_noise"].any():
        import warnings

        flagged = list(noise.index[noise["within_noise"]])
        warnings.warn(
            f"cluster_models: in {len(flagged)} of {usable.shape[1]} metrics the models do not "
            f"differ beyond their standard errors (Cochran's Q, p > 0.05): "
            f"{', '.join(flagged[:6])}{' ...' if len(flagged) > 6 else ''}; z-scoring gives their "
            "noise the weight of any other metric (leave them out with metrics=)",
            UserWarning,
            stacklevel=2,
        )
    z, _, _ = zscore(usable.to_numpy())
    matrix = pd.DataFrame(z, index=usable.index, columns=usable.columns)
    dist = pdist(z, metric=distance)
    if not np.isfinite(dist).all():
        raise ValueError(
            f"distance={distance!r} is undefined for some models (a z-scored vector of zeros); "
            "use distance='euclidean'"
        )
    return _finish_clustering(matrix, dist, groups, method, distance, n_clusters, n_permutations,
                              seed, dropped=dropped, noise=noise)  # fmt: skip
