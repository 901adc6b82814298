"""The similarity matrix of a zoo: every pair of models compared on the same images.

:func:`similarity_matrix` embeds each model once (or takes ready embeddings), prepares each
representation once for the measure (its float64 sums, or its kNN graph) and compares every
pair with :func:`manifold.similarity`'s measures; the :class:`SimilarityMatrix` it returns holds
a tidy table (one row per pair), the square matrix, and draws a heat map ordered by a
dendrogram. :func:`~manifold.zoo.cluster_models` clusters it (``similarity=``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from manifold._backend import seed_int, show_progress
from manifold._checks import DegenerateWarning
from manifold._validation import (
    Boolean,
    Device,
    InstanceOf,
    Integral,
    NoneOK,
    validate_params,
)
from manifold._validation import Callable as CallableOK
from manifold.metrics.representation_similarity import (
    SIMILARITY_PARAMETERS,
    PreparedSide,
    check_rows,
    compare_sides,
    pairwise_values,
    prepare_side,
)
from manifold.typing import DeviceLike, Embeddings, Graph, Grouping, Images, SeedLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from manifold.runner import ModelSpec

__all__ = ["PAIR_COLUMNS", "SimilarityMatrix", "similarity_matrix"]

#: Leading columns of :attr:`SimilarityMatrix.table`.
PAIR_COLUMNS = ("model_a", "model_b", "measure", "value", "null_mean", "null_sd", "calibrated",
                "p_value", "n", "n_permutations")  # fmt: skip


@dataclass
class SimilarityMatrix:
    """Every pairwise similarity of a zoo under one measure (from :func:`similarity_matrix`).

    Attributes:
        measure: ``"cka"``, ``"mutual_knn"`` or ``"procrustes"``.
        table: Tidy DataFrame, one row per pair of models (``model_a`` before ``model_b`` in
            the order given): the columns of :data:`PAIR_COLUMNS` and the measure's options.
        matrix: Square DataFrame model × model of the values; the diagonal is 1 (each measure
            gives 1 for a representation with itself), NaN for a constant representation.
        calibrated: The square matrix of ``value − null mean`` (with ``n_permutations``; the
            diagonal is NaN), else None.
        n: Number of images.
        options: The measure's options (``debiased``, ``k``, ``metric``, ``n_permutations``,
            ``seed``).
        constant: Models whose representation is constant (their rows and columns are NaN).
    """

    measure: str
    table: pd.DataFrame
    matrix: pd.DataFrame
    calibrated: pd.DataFrame | None = None
    n: int = 0
    options: dict[str, bool | int | str] = field(default_factory=dict)
    constant: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        """Model names, in the order given."""
        return list(self.matrix.index)

    def distances(self) -> pd.DataFrame:
        """``1 − S``: the dissimilarity :func:`~manifold.zoo.cluster_models` clusters on."""
        return 1.0 - self.matrix

    def linkage(self) -> tuple[np.ndarray | None, list[str]]:
        """Average-linkage tree on ``1 − S`` of the models without NaN similarities.

        Returns:
            ``(tree, models)``: the scipy linkage matrix (None for fewer than 2 models) and the
            models it joins, in the order given (constant representations left out).
        """
        from scipy.cluster.hierarchy import linkage
        from scipy.spatial.distance import squareform

        finite = [m for m in self.models if m not in self.constant]
        if len(finite) < 2:
            return None, finite
        dist = 1.0 - self.matrix.loc[finite, finite].to_numpy(dtype=float)
        dist = np.clip((dist + dist.T) / 2, 0.0, None)
        np.fill_diagonal(dist, 0.0)
        return linkage(squareform(dist, checks=False), method="average"), finite

    def order(self) -> list[str]:
        """The models in the leaf order of :meth:`linkage`'s dendrogram.

        Models with a NaN similarity (constant representations) come last, in the order given.
        """
        from scipy.cluster.hierarchy import leaves_list

        tree, finite = self.linkage()
        if tree is None:
            return finite + list(self.constant)
        return [finite[i] for i in leaves_list(tree)] + list(self.constant)

    def plot(
        self, groups: Grouping | None = None, calibrated: bool = False, ax: Axes | None = None
    ) -> Figure:
        """Heat map of the matrix, rows and columns in dendrogram order, the tree above it.

        Args:
            groups: Optional mapping model -> label; colours the model names.
            calibrated: Draw the calibrated matrix (``value − null mean``) instead.
            ax: Optional Axes for the heat map alone (no tree is drawn then).

        Returns:
            The matplotlib Figure.
        """
        from manifold.zoo.figures import plot_similarity_matrix

        return plot_similarity_matrix(self, groups=groups, calibrated=calibrated, ax=ax)


def _is_embeddings(value: Any) -> bool:
    """Ready embeddings (or, for mutual kNN, a kNN/NNK graph over them), not a model spec."""
    from manifold.graphs import Graph as GraphBase

    return isinstance(value, (np.ndarray, torch.Tensor, GraphBase))


@validate_params(
    {
        **SIMILARITY_PARAMETERS,
        "layer": [InstanceOf(str), NoneOK],
        "output": [Integral(), InstanceOf(str), NoneOK],
        "transform": [CallableOK(), NoneOK],
        "device": [Device(), NoneOK],
        "batch_size": [Integral(1, None)],
        "progress": [Boolean(), NoneOK],
    }
)
def similarity_matrix(
    models_or_embeddings: Mapping[str, Embeddings | Graph | ModelSpec],
    images: Images | None = None,
    measure: str = "cka",
    *,
    debiased: bool = True,
    k: int = 10,
    metric: str = "cosine",
    n_permutations: int = 0,
    seed: SeedLike = 0,
    layer: str | None = None,
    output: int | str | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    device: DeviceLike = None,
    batch_size: int = 256,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> SimilarityMatrix:
    """Compare every pair of models (or embeddings) of a zoo on the same images.

    Each entry is embedded once: ready ``(N, D)`` embeddings (numpy or torch; for
    ``"mutual_knn"`` also a kNN or NNK graph over them) are used as they are; any other entry is
    a model spec (an ``nn.Module``, a zero-argument factory,
    ``"zoo:<name>"``, a TorchScript file or ``"file.py:factory"``, as in
    :func:`~manifold.profile_zoo`), loaded and run on ``images`` by an
    :class:`~manifold.Embedder` (batched; with ``cache_dir``, cached on disk so that a rerun
    embeds nothing again). Each representation is then prepared once for the measure (its
    float64 feature sums, or its kNN graph) and every pair is compared as
    :func:`manifold.similarity` compares two: ``table`` row ``(a, b)`` equals
    ``similarity(z_a, z_b, measure, ..., seed=seed)``, null included.

    A constant representation (a collapsed model) gets NaN similarities and a
    :class:`~manifold.DegenerateWarning` naming it; the other pairs are computed.

    Args:
        models_or_embeddings: Mapping name -> ``(N, D)`` embeddings or model spec (at least 2).
        images: Images ``(N, C, H, W)`` in [0, 1] for the models (not needed with embeddings
            only).
        measure: ``"cka"``, ``"mutual_knn"`` or ``"procrustes"`` (see
            :func:`manifold.similarity`).
        debiased: CKA: debiased (default) or classic.
        k: mutual kNN: neighbours per image.
        metric: mutual kNN: ``"cosine"`` or ``"euclidean"``.
        n_permutations: Row shuffles per pair for the calibration (0: none).
        seed: Seed of the shuffles (every pair uses the same ones).
        layer: Submodule whose output is the representation (models only).
        output: Index or key of the representation when a model returns a tuple or dict.
        transform: Applied to each image batch before the model (e.g. a normalisation).
        device: Device of the models.
        batch_size: Images per forward pass.
        cache_dir: Folder of the embedding cache (None: no cache).
        progress: Progress bars over models and pairs; None: only on a terminal.

    Returns:
        A :class:`SimilarityMatrix`.

    Raises:
        ValueError: fewer than 2 entries, models without ``images``, embeddings of different
            numbers of rows, or the errors of :func:`manifold.similarity`.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(300, 8))
        >>> rotation = np.linalg.qr(rng.normal(size=(8, 8)))[0]
        >>> zoo = {"a": z, "b": 3 * z @ rotation, "c": rng.normal(size=(300, 8))}
        >>> result = similarity_matrix(zoo, measure="cka")
        >>> result.matrix.round(1).abs().to_numpy().tolist()
        [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
        >>> result.order(), list(result.table.columns[:4])
        (['c', 'a', 'b'], ['model_a', 'model_b', 'measure', 'value'])
    """
    if not isinstance(models_or_embeddings, Mapping):
        raise TypeError(
            "models_or_embeddings must be a mapping name -> embeddings or model spec, got "
            f"{type(models_or_embeddings).__name__}"
        )
    names = [str(name) for name in models_or_embeddings]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique as strings; got {names}")
    if len(names) < 2:
        raise ValueError(f"a similarity matrix needs at least 2 models or embeddings, got {names}")
    models = [n for n, v in zip(names, models_or_embeddings.values(), strict=True)
              if not _is_embeddings(v)]  # fmt: skip
    if models and images is None:
        raise ValueError(
            f"models {models[:4]}{' ...' if len(models) > 4 else ''} need images to embed; "
            "pass images=(N, C, H, W) in [0, 1], or give (N, D) embeddings instead"
        )
    seed = seed_int(seed)  # every pair's null uses the same shuffles
    shown = show_progress(progress)

    sides: dict[str, PreparedSide] = {}
    items = list(zip(names, models_or_embeddings.values(), strict=True))
    for name, value in _bar(items, shown and len(models) > 1, "embed"):
        if _is_embeddings(value):
            z = value
        else:
            z = _embed(name, value, images, layer=layer, output=output, transform=transform,
                       device=device, batch_size=batch_size, cache_dir=cache_dir)  # fmt: skip
        sides[name] = prepare_side(z, measure, name, k=k, metric=metric)
    sizes = {name: side.n for name, side in sides.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(
            "every model must embed the same images (row i = image i); numbers of rows: "
            + ", ".join(f"{name}: {n}" for name, n in sizes.items())
        )
    n = next(iter(sizes.values()))
    check_rows(n, measure, debiased, tuple(names))
    constant = [name for name, side in sides.items() if side.constant]
    for name in constant:
        warnings.warn(
            f"{name} is constant (every row the same: a collapsed representation); its "
            f"{measure} similarities are NaN",
            DegenerateWarning,
            stacklevel=2,
        )

    options: dict[str, bool | int | str] = {"debiased": bool(debiased)} if measure == "cka" else {}
    if measure == "mutual_knn":  # "graph" for the entries given as graphs
        options = {"k": k, "metric": "/".join(sorted({side.metric for side in sides.values()}))}
    rows = []
    pairs = list(combinations(names, 2))
    if n_permutations == 0:  # every pair's value from a few stacked products
        values = pairwise_values([sides[name] for name in names], debiased=debiased)
        index = {name: i for i, name in enumerate(names)}
        nan = float("nan")
        for a, b in pairs:
            rows.append({"model_a": a, "model_b": b, "measure": measure,
                         "value": values[index[a], index[b]], "null_mean": nan, "null_sd": nan,
                         "calibrated": nan, "p_value": nan, "n": n, "n_permutations": 0,
                         **options})  # fmt: skip
    for a, b in _bar(pairs if n_permutations else [], shown and len(pairs) > 1, "pairs"):
        if a in constant or b in constant:
            row = {"model_a": a, "model_b": b, "measure": measure, "value": np.nan, "n": n,
                   "n_permutations": 0, **options}  # fmt: skip
        else:
            res = compare_sides(sides[a], sides[b], debiased=debiased,
                                n_permutations=n_permutations, seed=seed)  # fmt: skip
            row = {"model_a": a, "model_b": b, **res.as_dict()}
        rows.append(row)
    table = pd.DataFrame(rows)
    lead = [c for c in PAIR_COLUMNS if c in table.columns]
    table = table[lead + [c for c in table.columns if c not in lead]]

    matrix = _square(table, names, "value", diagonal=1.0)
    for name in constant:
        matrix.loc[name, name] = np.nan
    calibrated = _square(table, names, "calibrated", np.nan) if n_permutations else None
    options.update(n_permutations=n_permutations, seed=seed)
    return SimilarityMatrix(measure, table, matrix, calibrated, n, options, constant)


def _square(table: pd.DataFrame, names: list[str], column: str, diagonal: float) -> pd.DataFrame:
    index = {name: i for i, name in enumerate(names)}
    values = np.full((len(names), len(names)), np.nan)
    np.fill_diagonal(values, diagonal)
    for a, b, v in zip(table["model_a"], table["model_b"], table[column], strict=True):
        values[index[a], index[b]] = values[index[b], index[a]] = v
    frame = pd.DataFrame(values, index=names, columns=names)
    frame.index.name = "model"
    return frame


def _embed(
    name: str, spec: Any, images: Images, *, layer, output, transform, device, batch_size,
    cache_dir,
) -> Embeddings:  # fmt: skip
    from manifold.embed import Embedder
    from manifold.runner import load_model

    model = load_model(spec, device=device)
    embedder = Embedder(model, layer=layer, device=device, batch_size=batch_size,
                        transform=transform, cache_dir=cache_dir, progress=False,
                        output=output)  # fmt: skip
    try:
        return embedder.embed(images)
    except (RuntimeError, ValueError, TypeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"model {name!r} could not embed the images: {first}") from err


def _bar(items: list, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False)
