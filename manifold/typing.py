"""Type aliases of the public API: what each kind of argument accepts, in one place.

The signatures of :mod:`manifold` name these aliases instead of spelling out the same unions
again and again. Shapes are part of the contract but not of the type: each alias says which
shape its values must have, and every function checks it at the call with a message that says
what was expected and what came.

This module imports only numpy, torch and the standard library, so any layer of the package can
use it; it imports no other module of the package, not even for type checkers. Third-party names
it refers to only for type checkers (networkx, scipy, pandas) are imported under
``TYPE_CHECKING``.

Examples:
    >>> import numpy as np
    >>> from manifold.graphs import knn_graph
    >>> isinstance(knn_graph(np.eye(4), k=2), Graph), isinstance(np.eye(4), Graph)
    (True, False)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias, Union, runtime_checkable

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

if TYPE_CHECKING:
    import networkx as nx
    import pandas as pd
    import scipy.sparse

__all__ = [
    "ArrayLike",
    "AugmentFn",
    "Batches",
    "DeviceLike",
    "Embeddings",
    "Family",
    "Graph",
    "Grouping",
    "Images",
    "PointsOrGraph",
    "RowSource",
    "ScalarWriter",
    "Scale",
    "SeedLike",
    "Splitter",
    "Views",
]

ArrayLike: TypeAlias = np.ndarray | torch.Tensor | npt.ArrayLike
"""An array argument: a numpy array (memmaps included), a torch tensor (on any device), or
anything :func:`numpy.asarray` turns into an array (nested lists, a pandas DataFrame, an object
with ``__array__``).

Values must be real numbers (integers are computed in float64, float16 and bfloat16 in
float32; booleans, complex numbers and strings are rejected) and finite."""

Embeddings: TypeAlias = ArrayLike
"""Embeddings of shape ``(N, D)``: one row per image (or point), one column per dimension.
An :data:`ArrayLike`."""

Views: TypeAlias = ArrayLike
"""Embeddings of augmented views, shape ``(N, K, D)``: ``K`` views of each of ``N`` images,
``K >= 2``. An :data:`ArrayLike`."""

Images: TypeAlias = ArrayLike
"""A batch of images, shape ``(N, C, H, W)`` (channels first), floating point with values in
``[0, 1]``; ``C`` is 1 (grey) or 3 (RGB) where augmentations are drawn. An :data:`ArrayLike`
(8-bit images are rejected: divide by 255 first)."""

Batches: TypeAlias = Iterable[ArrayLike]
"""Row batches of one matrix, each of shape ``(b, D)`` with the same ``D`` (or ``(b, K, D)`` for
views): a generator over a data loader, a list of arrays. Read once, in order."""

RowSource: TypeAlias = ArrayLike | str | os.PathLike[str]
"""Rows of a matrix too large to copy, shape ``(N, D)``: an :data:`ArrayLike` (a numpy memmap
backed by a file is read with file reads, never mapped whole), or the path of a ``.npy`` file
(opened as a read-only memmap)."""

DeviceLike: TypeAlias = str | torch.device | None
"""A compute device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
``"cuda:<index>"``, ``"mps"``, a :class:`torch.device`, or ``None`` (the input's or the model's
device, else CPU)."""

SeedLike: TypeAlias = int | np.integer | np.random.Generator | torch.Generator | None
"""A seed: a non-negative integer, a :class:`numpy.random.Generator` or a
:class:`torch.Generator` (one draw is taken from a generator), or ``None`` (fresh entropy: a
different result on each call)."""

Scale: TypeAlias = Literal["knn"] | float | None
"""The unit lengths are divided by: ``None`` (raw lengths), ``"knn"`` (the median distance from
a point to its k-th neighbour, which makes the metric invariant to rescaling the embeddings),
or a positive number."""

AugmentFn: TypeAlias = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
"""A user augmentation ``f(images, generator) -> images``: called on the ``K`` copies
``(K, C, H, W)`` of one image with a generator seeded for that image; returns the ``K`` views,
shape ``(K, C, H', W')``."""

Family: TypeAlias = str | nn.Module | AugmentFn
"""An augmentation family: a name of :data:`manifold.augment.FAMILIES` (``"crop"``,
``"color"``, ``"rotation"``, ``"flip"``, ``"blur"``, ``"ssl"``), a kornia augmentation module, or
an :data:`AugmentFn`."""

Grouping: TypeAlias = Union[Mapping[str, Hashable], "pd.Series"]
"""A label per model (e.g. its training method): a mapping model name -> label, or a pandas
Series indexed by model name. Labels are compared as strings."""


@runtime_checkable
class Graph(Protocol):
    """The five calls every neighbourhood graph answers, as a structural type for annotations.

    Every graph of :mod:`manifold.graphs` derives from the base class
    :class:`manifold.graphs.Graph`, which declares the same five calls; the metrics check for
    that class (``isinstance(obj, manifold.graphs.Graph)``). This protocol describes the same
    calls without the class, for code that annotates "any graph": ``isinstance(obj, Graph)``
    says whether ``obj`` has the five calls. A graph of one's own that a metric should read
    derives from :class:`manifold.graphs.Graph`. Arrays and networkx graphs are not graphs in
    this sense.
    """

    @property
    def n_nodes(self) -> int:
        """Number of nodes (the rows of the graph)."""
        ...

    @property
    def k(self) -> int:
        """Candidate neighbours per node (the kept degree is at most this)."""
        ...

    def neighbors(self, i: int) -> np.ndarray:
        """Indices of the neighbours of node ``i``, nearest first."""
        ...

    def to_scipy(self, weight: str = ...) -> scipy.sparse.csr_matrix:
        """The edges as a sparse matrix, one row per node, weighted as ``weight`` says."""
        ...

    def to_networkx(self) -> nx.Graph:
        """The graph as a networkx graph (a ``DiGraph`` where edges are one-way)."""
        ...


PointsOrGraph: TypeAlias = ArrayLike | Graph
"""Points ``(N, D)`` (an :data:`ArrayLike`; the graph is then built from them) or a graph over
them: a :class:`~manifold.graphs.KNNGraph` or a :class:`~manifold.graphs.NNKGraph`, which a
metric turns into the kind it reads (an NNK graph carries its kNN graph; a kNN graph is pruned
to an NNK graph). Another :class:`Graph`, such as an :class:`~manifold.graphs.AnchorNNK` (which
covers some points only), is refused with a ``TypeError``."""


@runtime_checkable
class Splitter(Protocol):
    """A cross-validation splitter, such as scikit-learn's ``KFold``: anything with ``split``."""

    def split(self, x: np.ndarray, /) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train, test)`` row indices of ``x`` for each fold."""
        ...


class ScalarWriter(Protocol):
    """Where a :class:`~manifold.Monitor` also writes each value: anything with ``add_scalar``.

    ``torch.utils.tensorboard.SummaryWriter`` is one.
    """

    def add_scalar(self, tag: str, scalar_value: float, global_step: int | None = ..., /) -> object:
        """Record ``scalar_value`` under ``tag`` at ``global_step``."""
        ...
