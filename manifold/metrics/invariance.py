"""Invariance metrics: how a representation responds to one augmentation family.

Notation: ``z`` (N, D) holds one embedding per clean image (the semantic manifold) and ``views``
(N, K, D) holds K augmented views of each image (N augmentation manifolds). Every function here
takes arrays (numpy or torch) and returns a float or a :class:`~manifold.PointMetric` with one
value per image and its summary.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from manifold._checks import as_tensor, degenerate, to_numpy
from manifold._summary import PointMetric
from manifold._validation import Integral, NoneOK, Options, Real, validate_params
from manifold.graphs.neighbourhood import pca_dimension
from manifold.typing import Embeddings, Views

if TYPE_CHECKING:
    from manifold.graphs import KNNGraph, NNKGraph

__all__ = [
    "alignment",
    "augmentation_diameter_ratio",
    "augmentation_dimension",
    "same_source_rate",
    "spread_ratio",
    "tangent_alignment",
]

# Rows of views processed at once by the batched linear algebra: bounds memory at
# _CHUNK * K * D floats whatever N is.
_CHUNK = 4096


def _views(views: Any, name: str = "views") -> torch.Tensor:
    v, _ = as_tensor(views, name, dims=("N", "K", "D"), min_sizes={"K": 2}, dtype=torch.float64)
    return v


def _semantic(z: Any, n: int | None = None) -> torch.Tensor:
    t, _ = as_tensor(z, "z", dims=("N", "D"), min_sizes={"N": 2}, dtype=torch.float64)
    if n is not None and t.shape[0] != n:
        raise ValueError(
            f"z and views must describe the same images: z has N = {t.shape[0]} rows, "
            f"views has N = {n}"
        )
    return t


def _centre(v: torch.Tensor) -> torch.Tensor:
    """Views minus their image's centroid; exactly 0 when an image's views are identical."""
    # centring on the first view before averaging keeps identical views exactly at 0 (the
    # floating-point mean of K equal numbers is not always that number)
    d = v - v[:, :1]
    return d - d.mean(dim=1, keepdim=True)


def _check_same_dim(z: torch.Tensor, v: torch.Tensor) -> None:
    if z.shape[1] != v.shape[2]:
        raise ValueError(
            f"z and views must have the same embedding dimension D: z has D = {z.shape[1]}, "
            f"views has D = {v.shape[2]}"
        )


def _check_k(k: Any, n: int, name: str) -> int:
    """``k <= n - 1`` (``k >= 1`` is checked at the call); the error names the point set."""
    if k > n - 1:
        raise ValueError(f"k must be <= {n - 1} (N - 1 for {name} with {n} rows), got {k}")
    return k


def _semantic_graph(z: torch.Tensor, k: int, graph: Any, kind: str):
    from manifold.graphs import Graph, as_graph

    if graph is None:
        return as_graph(z, kind, k=_check_k(k, z.shape[0], "z"))
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a KNNGraph or NNKGraph, got {type(graph).__name__}")
    graph = as_graph(graph, kind)
    if graph.n_nodes != z.shape[0]:
        raise ValueError(f"graph has {graph.n_nodes} nodes but z has {z.shape[0]} rows")
    return graph


def _semantic_knn(z: torch.Tensor, k: int, graph: Any):
    return _semantic_graph(z, k, graph, "knn")


def _semantic_nnk(z: torch.Tensor, k: int, graph: Any):
    return _semantic_graph(z, k, graph, "nnk")


def semantic_scale(z: Any, k: int = 10, graph: Any = None) -> float:
    """Median distance from each embedding to its k-th nearest semantic neighbour.

    The unit in which :func:`spread_ratio` measures how far augmentations move an embedding.
    """
    zt = _semantic(z)
    knn = _semantic_knn(zt, k, graph)
    return float(np.median(knn.distances[:, -1]))


@validate_params({"k": [Integral(1, None)]})
def spread_ratio(
    z: Embeddings, views: Views, k: int = 10, graph: KNNGraph | NNKGraph | None = None
) -> PointMetric:
    r"""How far an augmentation moves embeddings, relative to the spacing of the images.

    For image i with views :math:`v_{i1..K}` and centroid :math:`\bar v_i`:

    .. math::
        s_i = \frac{1}{K}\sum_j \lVert v_{ij} - \bar v_i\rVert \,/\, r_k,

    where :math:`r_k` is the median over images of the distance from :math:`z_i` to its k-th
    nearest semantic neighbour. The summary mean is the spread ratio. 0 means the model
    ignores the augmentation; values near or above 1 mean the views of an image spread as
    far as its semantic neighbours lie.

    Args:
        z: Semantic embeddings (N, D).
        views: Augmentation embeddings (N, K, D).
        k: Neighbour rank defining the semantic scale.
        graph: Optional prebuilt :class:`~manifold.KNNGraph` (or NNK graph) over ``z``.

    Returns:
        Per-image spread ratios with their summary.

    Raises:
        ValueError: if every embedding coincides with its k-th neighbour (the semantic scale is
            zero, so no ratio is defined).

    Examples:
        >>> import numpy as np
        >>> z = np.random.default_rng(0).normal(size=(50, 8))
        >>> views = np.repeat(z[:, None], 4, axis=1)  # an exactly invariant model
        >>> spread_ratio(z, views).summary.mean
        0.0
    """
    v = _views(views)
    zt = _semantic(z, v.shape[0])
    _check_same_dim(zt, v)
    scale = semantic_scale(zt, k, graph)
    if not scale > 0:
        degenerate(
            "the semantic scale (median distance to the k-th neighbour) is 0: most rows of z "
            "coincide with their neighbours (collapsed embeddings?), so the spread ratio is "
            "undefined; use a larger k or remove duplicate images; returning NaN"
        )
        return PointMetric("spread_ratio", np.full(v.shape[0], np.nan))
    centred = _centre(v)
    spread = torch.linalg.vector_norm(centred, dim=2).mean(dim=1)
    return PointMetric("spread_ratio", to_numpy(spread / scale))


def _max_pairwise_distance(v: torch.Tensor) -> torch.Tensor:
    out = torch.empty(v.shape[0], dtype=v.dtype, device=v.device)
    for start in range(0, v.shape[0], _CHUNK):
        chunk = v[start : start + _CHUNK]
        out[start : start + _CHUNK] = torch.cdist(chunk, chunk).amax(dim=(1, 2))
    return out


@validate_params({"k": [Integral(1, None)]})
def augmentation_diameter_ratio(
    z: Embeddings, views: Views, k: int = 10, graph: KNNGraph | NNKGraph | None = None
) -> PointMetric:
    r"""Largest distance between two views of an image over the image's semantic NNK diameter.

    .. math::
        a_i = \max_{j, l} \lVert v_{ij} - v_{il}\rVert \,/\, \operatorname{diam}_{NNK}(z_i),

    where :math:`\operatorname{diam}_{NNK}(z_i)` is the largest distance between two NNK
    neighbours of :math:`z_i` in the semantic graph (the size of its NNK polytope). Images whose
    semantic NNK diameter is 0 (fewer than two NNK neighbours, or coincident neighbours) are
    divided by the median diameter over the other images instead, so every image has a value.

    Args:
        z: Semantic embeddings (N, D).
        views: Augmentation embeddings (N, K, D).
        k: Number of kNN candidates for the semantic NNK graph.
        graph: Optional prebuilt :class:`~manifold.NNKGraph` (or kNN graph) over ``z``.

    Returns:
        Per-image ratios with their summary.
    """
    v = _views(views)
    zt = _semantic(z, v.shape[0])
    _check_same_dim(zt, v)
    nnk = _semantic_nnk(zt, k, graph)
    from manifold.metrics.local import nnk_diameter

    diameters = nnk_diameter(nnk, z=zt).values
    positive = diameters > 0
    if not positive.any():
        degenerate(
            "every semantic NNK diameter is 0 (no row of z has two distinct NNK neighbours: "
            "collapsed embeddings?), so the augmentation diameter ratio is undefined; "
            "returning NaN"
        )
        return PointMetric("augmentation_diameter_ratio", np.full(v.shape[0], np.nan))
    diameters = np.where(positive, diameters, np.median(diameters[positive]))
    view_diameters = to_numpy(_max_pairwise_distance(v))
    return PointMetric("augmentation_diameter_ratio", view_diameters / diameters)


@validate_params({"k": [Integral(1, None), NoneOK], "weighting": [Options(("weight", "count"))]})
def same_source_rate(
    views: Views,
    k: int | None = None,
    weighting: str = "weight",
    graph: NNKGraph | None = None,
) -> PointMetric:
    r"""How much of a view's NNK neighbourhood belongs to views of the same image.

    The NNK graph is built over all N·K views. For view u of image i with NNK weights
    :math:`\theta_{uj}` over its NNK neighbours :math:`\mathcal N(u)`:

    - ``weighting="weight"`` (default): the NNK-weight fraction
      :math:`r_u = \sum_{j \in \mathcal N(u),\, src(j)=i} \theta_{uj} / \sum_{j\in\mathcal N(u)}
      \theta_{uj}`. Its maximum is 1 whatever k and K are.
    - ``weighting="count"``: :math:`r_u = c_u / \min(|\mathcal N(u)|, K-1)` with :math:`c_u` the
      number of same-image neighbours, normalised so that its maximum is also 1. NNK keeps a
      neighbour unless a closer selected neighbour lies between, so a tight cluster of views
      still links to the nearest other clusters with small weights: the count version then
      stays below 1 even for well-separated images, while the weighted version is ~1.

    The value per image is the mean of its views' rates. A weighted rate of 1 means each
    image's views form their own tight cluster (e.g. a model that ignores the augmentation:
    identical views reconstruct each other exactly); near chance means the augmentation
    scrambles image identity. The count rate is a recall: the share of the view's K − 1 other
    views found among its neighbours (or, with fewer than K − 1 neighbours, the share of
    neighbours that are its image's). It reads 1 as soon as all of an image's views are among
    each other's neighbours, however many views of other images are there too. So when images
    collapse onto a few shared points the count rate is 1 while the weighted rate falls to the
    image's share of each point, near chance (see the example): use the weighted rate, the
    default, to detect such a collapse.

    Coinciding views: views with equal coordinates are one point to any neighbourhood, and when
    there are more of them than candidates the neighbour search returns an arbitrary ``k``. So
    the weight (and, for the count, the neighbour) that a view gives to such a point is shared
    evenly by all the views there, whether or not the search returned them (leaving the view
    itself out). A view with twins is reconstructed by them alone (see
    :func:`~manifold.nnk_graph`): its weighted rate is the fraction of its twins that come from
    its image, its count rate that number over ``min(twins, K − 1)``. The rate therefore does
    not depend on the order of the views. Coinciding views of an image give 1 while the images
    differ; if each image is there three times, every view has 3K − 1 twins, K − 1 of them its
    own, and the rate is (K − 1)/(3K − 1) (weight) or 1 (count). When every view of every
    image is the same point (a collapsed model), no neighbourhood can tell images apart: the
    rate is NaN, with a :class:`~manifold.DegenerateWarning`.

    Chance level: if which views belong to which image is unrelated to the graph, each of the
    :math:`d_u = |\mathcal N(u)|` neighbours of view u is one of its image's K − 1 other views
    with probability :math:`(K-1)/(NK-1)`. The weighted rate is then
    :math:`(K-1)/(NK-1)` in expectation. The count rate divides :math:`E[c_u] = d_u (K-1)/(NK-1)`
    by :math:`\min(d_u, K-1)`, so its chance level is
    :math:`\max(d_u, K-1)/(NK-1)`, averaged over the views: larger than :math:`(K-1)/(NK-1)`
    whenever NNK degrees exceed K − 1 (with the default k they often do).

    Args:
        views: Augmentation embeddings (N, K, D).
        k: Number of kNN candidates per view (default ``2 * (K - 1)``, at least 10, capped at
            N·K − 1).
        weighting: ``"weight"`` or ``"count"``.
        graph: Optional prebuilt :class:`~manifold.NNKGraph` over ``views.reshape(N*K, D)``.

    Returns:
        Per-image rates with their summary.

    Examples:
        Thirty images, K = 4 views each, whose views collapse onto two points, fifteen images
        on each. A view's three other views are all among its 59 twins, so its count rate is 1;
        they are 3 of those 59, so its weighted rate is 3/59 ≈ 0.0508, near the chance level
        (K − 1)/(NK − 1) = 3/119 and far from the 1 of images that keep their identity:

        >>> import numpy as np
        >>> points = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
        >>> views = np.repeat(np.repeat(points, 15, axis=0)[:, None], 4, axis=1)  # (30, 4, 3)
        >>> round(float(same_source_rate(views).summary.mean), 4)
        0.0508
        >>> float(same_source_rate(views, weighting="count").summary.mean)
        1.0
    """
    v = _views(views)
    n, n_views, d = v.shape
    flat = v.reshape(n * n_views, d)
    if graph is None:
        if k is None:
            k = min(max(2 * (n_views - 1), 10), n * n_views - 1)
        k = _check_k(k, n * n_views, "views (N·K views)")
    else:
        from manifold.graphs import NNKGraph

        if not isinstance(graph, NNKGraph):
            raise TypeError(
                f"graph must be an NNKGraph over the N·K views (the rate reads its NNK weights), "
                f"got {type(graph).__name__}; build it with nnk_graph(views.reshape(N * K, D))"
            )
        if graph.knn.n_nodes != n * n_views:
            raise ValueError(f"graph has {graph.knn.n_nodes} nodes but views hold {n * n_views}")
    low, high = torch.aminmax(flat, dim=0)  # no N·K × D temporary
    if bool((low == high).all()):
        degenerate(
            "every view in views is the same point (collapsed embeddings): no neighbourhood can "
            "tell the images apart, so the same-source rate is undefined; returning NaN"
        )
        return PointMetric("same_source_rate", np.full(n, np.nan))
    if graph is None:
        from manifold.graphs import nnk_graph

        graph = nnk_graph(flat, k=k)
    source = np.repeat(np.arange(n), n_views)
    point, members, own = _candidate_points(flat, source, graph.knn.indices, graph.knn.distances)
    mask = graph.mask
    if weighting == "count":
        # each selected point once, with all the views there
        selected = np.where(mask, point, -1)
        order = np.argsort(selected, axis=1, kind="stable")
        selected = np.take_along_axis(selected, order, axis=1)
        first = selected >= 0
        first[:, 1:] &= selected[:, 1:] != selected[:, :-1]
        degree = (np.take_along_axis(members, order, axis=1) * first).sum(axis=1)
        hits = (np.take_along_axis(own, order, axis=1) * first).sum(axis=1)
        norm = np.minimum(degree, n_views - 1)
        rate = np.divide(hits, norm, out=np.zeros(len(hits)), where=norm > 0)
    else:
        w = np.where(mask, graph.weights, 0.0)
        total = w.sum(axis=1)
        same = (w * (own / members)).sum(axis=1)
        rate = np.divide(same, total, out=np.zeros(len(total)), where=total > 0)
    return PointMetric("same_source_rate", rate.reshape(n, n_views).mean(axis=1))


# A view whose nearest candidate is at most this far may have a twin (exact duplicates are at
# distance 0, or ~1e-16 under the cosine metric); whether it has one is then decided exactly.
_TWIN_DISTANCE = 1e-12


# Bytes of views copied at once while looking for twins: bounds the extra memory at a few such
# chunks whatever N·K is (an invariant family gives every view a twin).
_TWIN_CHUNK_BYTES = 4 * 2**20


def _take(flat: torch.Tensor, index: np.ndarray) -> torch.Tensor:
    return flat[torch.from_numpy(index).to(flat.device)]


def _rows(flat: torch.Tensor, index: np.ndarray) -> np.ndarray:
    """A copy of the rows at ``index`` as a numpy array, -0.0 made 0.0 (one point)."""
    rows = to_numpy(_take(flat, index))  # indexing copies
    rows += 0.0
    return rows


def _digests(rows: np.ndarray) -> np.ndarray:
    """A 16-byte digest of each row of a C-contiguous 2-D array: equal bytes, equal digests."""
    return np.frombuffer(
        b"".join(hashlib.blake2b(row, digest_size=16).digest() for row in rows), dtype="V16"
    )


def _points(flat: torch.Tensor, distances: np.ndarray) -> np.ndarray:
    """Label of each row's point: rows with equal values share the lowest index among them.

    Rows are grouped by a digest of their values, chunk by chunk, then each is compared exactly
    with the first row of its group, so memory stays bounded and a digest collision never
    merges two distinct points.
    """
    label = np.arange(flat.shape[0])
    # a row with a twin has it as its nearest candidate
    maybe = np.flatnonzero(distances[:, 0] <= _TWIN_DISTANCE)
    if maybe.size < 2:
        return label
    step = max(1, _TWIN_CHUNK_BYTES // (flat.shape[1] * flat.element_size()))
    chunks = range(0, maybe.size, step)
    keys = np.concatenate([_digests(_rows(flat, maybe[i : i + step])) for i in chunks])
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    first = first[inverse]  # position in maybe of the first row with the same digest
    differs = np.zeros(maybe.size, dtype=bool)
    for i in chunks:
        rows = _take(flat, maybe[i : i + step])
        reps = _take(flat, maybe[first[i : i + step]])
        differs[i : i + step] = to_numpy((rows != reps).any(dim=1))  # -0.0 == 0.0
    if differs.any():
        # a digest shared by distinct rows (never seen with a 128-bit digest): group the rows
        # that have it by their values
        clash = np.flatnonzero(np.isin(inverse, inverse[differs]))
        rows = _rows(flat, maybe[clash])
        keys = rows.view(np.dtype((np.void, rows.itemsize * rows.shape[1]))).ravel()
        _, exact, back = np.unique(keys, return_index=True, return_inverse=True)
        first[clash] = clash[exact[back.ravel()]]
    label[maybe] = maybe[first]
    return label


def _candidate_points(
    flat: torch.Tensor, source: np.ndarray, indices: np.ndarray, distances: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each view u and candidate j: j's point, the views there, and those of u's image.

    The counts leave u itself out (when j is a twin of u). Without twins they are 1 and
    ``source[j] == source[u]``.
    """
    label = _points(flat, distances)
    n_images = int(source[-1]) + 1
    size = np.bincount(label, minlength=len(label))
    pairs, pair_counts = np.unique(label * n_images + source, return_counts=True)
    point = label[indices]
    wanted = point * n_images + source[:, None]
    at = np.searchsorted(pairs, wanted).clip(max=len(pairs) - 1)
    same = np.where(pairs[at] == wanted, pair_counts[at], 0)
    twin = point == label[:, None]
    return point, size[point] - twin, same - twin


@validate_params({"threshold": [Real(0, 1, closed="right")]})
def augmentation_dimension(views: Views, threshold: float = 0.1) -> PointMetric:
    r"""How many directions an augmentation moves each image's embedding.

    PCA of image i's K views around their centroid; the dimension is the number of components
    whose explained variance is at least ``threshold`` times the largest (the same rule as
    :func:`~manifold.local_dimension`). An image whose views coincide has dimension 0.

    Args:
        views: Augmentation embeddings (N, K, D).
        threshold: Relative variance threshold in (0, 1].

    Returns:
        Per-image dimensions (integers, at most min(K − 1, D)) with their summary.
    """
    v = _views(views)
    out = torch.empty(v.shape[0], dtype=torch.int64)
    for start in range(0, v.shape[0], _CHUNK):
        chunk = v[start : start + _CHUNK]
        s = torch.linalg.svdvals(_centre(chunk))
        out[start : start + _CHUNK] = pca_dimension(s, threshold).cpu()
    return PointMetric("augmentation_dimension", out.numpy())


def _leading_basis(offsets: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal directions (b, m, D) of m offsets per row and the dimension by the variance rule.

    Computed from the m × m Gram matrix, so the cost is O(m²D) rather than an SVD of an m × D
    matrix per row; the directions that pass the variance threshold are well conditioned.
    """
    gram = offsets @ offsets.transpose(1, 2)
    evals, evecs = torch.linalg.eigh(gram)
    evals = evals.flip(-1).clamp(min=0.0)
    evecs = evecs.flip(-1)
    s = evals.sqrt()
    dims = pca_dimension(s, threshold)
    keep = torch.arange(s.shape[-1], device=s.device)[None, :] < dims[:, None]
    scale = torch.where(keep, 1.0 / s.clamp(min=torch.finfo(s.dtype).tiny), 0.0)
    basis = (evecs.transpose(1, 2) @ offsets) * scale[..., None]
    return basis, dims


@validate_params({"k": [Integral(1, None)], "threshold": [Real(0, None, closed="neither")]})
def tangent_alignment(
    z: Embeddings,
    views: Views,
    k: int = 10,
    threshold: float = 0.1,
    graph: KNNGraph | NNKGraph | None = None,
) -> PointMetric:
    r"""Angle between the directions an augmentation moves an image and the data manifold.

    For image i, the augmentation subspace is spanned by the leading principal directions of its
    views around their centroid, and the semantic tangent subspace by the leading principal
    directions of the offsets :math:`z_j - z_i` to its semantic NNK neighbours (dimensions chosen
    by the ``threshold`` variance rule of :func:`augmentation_dimension`). The value is the mean
    principal angle, in degrees, over the :math:`\min(d_{aug}, d_{sem})` angles between the two
    subspaces: near 0 when the augmentation moves embeddings along the data manifold, near 90
    when it moves them across it.

    Images whose views coincide (augmentation dimension 0) or whose semantic neighbourhood has no
    spread have no subspace to compare; they are left out of the summary. If no image remains,
    a ValueError says so (an exactly invariant model has no tangent alignment).

    Args:
        z: Semantic embeddings (N, D).
        views: Augmentation embeddings (N, K, D).
        k: Number of kNN candidates for the semantic NNK graph.
        threshold: Relative variance threshold for both subspace dimensions.
        graph: Optional prebuilt :class:`~manifold.NNKGraph` over ``z``.

    Returns:
        Mean principal angle per image (degrees), for the images where it is defined.
    """
    v = _views(views)
    zt = _semantic(z, v.shape[0])
    _check_same_dim(zt, v)
    nnk = _semantic_nnk(zt, k, graph)
    indices = torch.as_tensor(nnk.knn.indices)
    mask = torch.as_tensor(nnk.mask)
    angles = np.full(v.shape[0], np.nan)
    zc = zt.cpu()
    for start in range(0, v.shape[0], _CHUNK):
        stop = min(start + _CHUNK, v.shape[0])
        chunk = v[start:stop].cpu()
        vb, d_aug = _leading_basis(_centre(chunk), threshold)
        offsets = zc[indices[start:stop]] - zc[start:stop, None, :]
        offsets = torch.where(mask[start:stop, :, None], offsets, torch.zeros((), dtype=zc.dtype))
        sb, d_sem = _leading_basis(offsets, threshold)
        # cosines of the principal angles between span(vb[:d_aug]) and span(sb[:d_sem])
        ra = torch.arange(vb.shape[1])
        rs = torch.arange(sb.shape[1])
        va = vb * (ra[None, :] < d_aug[:, None])[:, :, None]
        sa = sb * (rs[None, :] < d_sem[:, None])[:, :, None]
        cos = torch.linalg.svdvals(va @ sa.transpose(1, 2)).clamp(0.0, 1.0)
        m = torch.minimum(d_aug, d_sem)
        keep = torch.arange(cos.shape[1])[None, :] < m[:, None]
        deg = torch.rad2deg(torch.arccos(cos))
        mean = (deg * keep).sum(dim=1) / m.clamp(min=1)
        angles[start:stop] = torch.where(m > 0, mean, torch.nan).numpy()
    defined = ~np.isnan(angles)
    if not defined.any():
        degenerate(
            "tangent alignment is undefined: no image's views move (augmentation dimension 0 "
            "everywhere in views) or no semantic neighbourhood of z has spread (collapsed "
            "embeddings?); returning NaN"
        )
        return PointMetric("tangent_alignment", angles)
    return PointMetric("tangent_alignment", angles[defined])


def alignment(views: Views) -> PointMetric:
    r"""Alignment of Wang & Isola (2020): mean squared distance between views of an image.

    Embeddings are L2-normalised, :math:`u = f(x)/\lVert f(x)\rVert`; for image i,

    .. math::
        \ell_i = \frac{1}{K(K-1)} \sum_{j \ne l} \lVert u_{ij} - u_{il}\rVert^2
               = \frac{2K}{K-1}\bigl(1 - \lVert \bar u_i\rVert^2\bigr),

    with :math:`\bar u_i` the mean of the normalised views (the closed form avoids the K²
    pairs). Lower is more aligned (0 for identical views, at most 2K/(K−1)).

    Reference: Wang & Isola, "Understanding contrastive representation learning through
    alignment and uniformity on the hypersphere", ICML 2020.

    Args:
        views: Augmentation embeddings (N, K, D); no view may be the zero vector.

    Returns:
        Per-image alignment with its summary.

    Examples:
        >>> import numpy as np
        >>> v = np.zeros((1, 2, 2)); v[0, 0, 0] = 1.0; v[0, 1, 1] = 1.0  # orthogonal views
        >>> round(float(alignment(v).values[0]), 12)  # |e1 - e2|^2
        2.0
    """
    v = _views(views)
    norms = torch.linalg.vector_norm(v, dim=2, keepdim=True)
    zero = norms == 0
    if bool(zero.any()):
        first = int(zero.squeeze(2).any(dim=1).nonzero()[0, 0])
        raise ValueError(
            f"views contain {int(zero.sum())} zero vectors (first in image {first}); "
            "alignment normalises embeddings and is undefined for a zero vector"
        )
    u = v / norms
    n_views = v.shape[1]
    mean_sq = torch.linalg.vector_norm(u.mean(dim=1), dim=1) ** 2
    value = (2 * n_views / (n_views - 1)) * (1 - mean_sq)
    return PointMetric("alignment", to_numpy(value.clamp(min=0.0)))
