"""Input and output shared by every layer: chunked row reads and atomic file writes.

:class:`RowReader` reads an ``(N, D)`` array, a numpy memmap or a ``.npy`` file chunk by chunk
without mapping the file's pages into the process; :func:`atomic_write` writes a file through a
temporary file in the same folder and a rename, so a reader never sees half a file;
:func:`replace_outputs` swaps a run written in a staging folder into its output folder;
:func:`load_embeddings` reads saved embeddings (and their views) with their shapes checked.
"""

from __future__ import annotations

import mmap
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from manifold.typing import RowSource

__all__ = ["RowReader", "atomic_write", "file_location", "load_embeddings", "replace_outputs"]


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file in the same folder, then rename over it.

    ``write`` receives the temporary path and fills it; the file is synced before the rename, so
    an interrupted run leaves either the old file or the new one, never a partial one.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> target = Path(tempfile.mkdtemp()) / "out" / "a.txt"
        >>> atomic_write(target, lambda p: p.write_text("done"))
        >>> target.read_text(), sorted(q.name for q in target.parent.iterdir())
        ('done', ['a.txt'])
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def replace_outputs(staging: Path, out: Path, names: str | Iterable[str]) -> list[str]:
    """Swap a run written in ``staging`` into ``out``, replacing the earlier run's ``names``.

    The entries of ``out`` listed in ``names`` (an earlier run's files and folders) are moved
    aside into a hidden folder beside ``out``, every entry of ``staging`` is renamed into
    ``out``, then the earlier entries are deleted and ``staging`` is removed. Other entries of
    ``out`` (the user's own files) are left alone. Every move is a rename within one file
    system; when one fails, the moves done so far are undone, so ``out`` holds the earlier run,
    whole. When ``out`` does not exist, ``staging`` is renamed to it in one step.

    Args:
        staging: A folder beside ``out`` (same file system) holding the new run.
        out: The output folder.
        names: File and folder names an earlier run may have written into ``out`` (one name:
            a string).

    Returns:
        The names of the earlier entries that were replaced or removed.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "out").mkdir(); _ = (root / "out" / "old.csv").write_text("old")
        >>> (root / "stage").mkdir(); _ = (root / "stage" / "new.csv").write_text("new")
        >>> replace_outputs(root / "stage", root / "out", ["old.csv", "new.csv"])
        ['old.csv']
        >>> sorted(p.name for p in (root / "out").iterdir()), (root / "stage").exists()
        (['new.csv'], False)
    """
    from manifold._checks import check_names

    staging, out = Path(staging), Path(out)
    names = check_names(names, "names")
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, out)
        return []
    incoming = sorted(p.name for p in staging.iterdir())
    earlier = [n for n in dict.fromkeys([*names, *incoming]) if os.path.lexists(out / n)]
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    moved_aside: list[str] = []
    moved_in: list[str] = []
    try:
        for name in earlier:
            os.replace(out / name, aside / name)
            moved_aside.append(name)
        for name in incoming:
            os.replace(staging / name, out / name)
            moved_in.append(name)
    except BaseException:
        for name in reversed(moved_in):
            os.replace(out / name, staging / name)
        for name in reversed(moved_aside):
            os.replace(aside / name, out / name)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    return earlier


class RowReader:
    """Row access to an ``(N, D)`` array, a numpy memmap or a ``.npy`` path, chunk by chunk.

    A memmap backed by a file (C-ordered rows, not copy-on-write) is read with file reads at the
    rows' byte offsets, so no page of the file is mapped into the process: reading all of an
    8 GB memmap keeps the resident set at one chunk. Anything else (numpy array, torch tensor,
    other memmaps) is sliced.

    Args:
        z: ``(N, D)`` numpy array or memmap, torch tensor, or the path of a ``.npy`` file
            (opened as a read-only memmap).
        name: The argument's name in error messages.

    Examples:
        >>> import numpy as np
        >>> r = RowReader(np.arange(12.0).reshape(4, 3))
        >>> r.shape, r.read(1, 3).tolist(), r.take(np.array([0, 3])).tolist()
        ((4, 3), [[3.0, 4.0, 5.0], [6.0, 7.0, 8.0]], [[0.0, 1.0, 2.0], [9.0, 10.0, 11.0]])
    """

    def __init__(self, z: RowSource, name: str = "z") -> None:
        if isinstance(z, (str, os.PathLike)):
            z = np.load(os.fspath(z), mmap_mode="r")
        shape = tuple(getattr(z, "shape", np.shape(z)))
        if len(shape) != 2:
            got = "(" + ", ".join(str(int(s)) for s in shape) + ")"
            raise ValueError(f"expected {name} of shape (N, D), got {got}")
        if shape[0] == 0 or shape[1] == 0:
            raise ValueError(f"{name} is empty (shape {shape})")
        if not isinstance(z, (np.ndarray, torch.Tensor)):
            z = np.asarray(z)
        dtype = z.dtype
        if isinstance(z, np.ndarray) and (dtype.kind not in "fiu" or dtype.kind == "b"):
            raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")
        self.name = name
        self.shape = (int(shape[0]), int(shape[1]))
        self._z = z
        self._file = file_location(z)
        self._handle = None

    @property
    def n(self) -> int:
        """Number of rows ``N``."""
        return self.shape[0]

    @property
    def dim(self) -> int:
        """Number of columns ``D``."""
        return self.shape[1]

    @property
    def streams_from_file(self) -> bool:
        """Whether rows are read from the memmap's file (not through its mapping)."""
        return self._file is not None

    def _fh(self):
        if self._handle is None or self._handle.closed:
            self._handle = open(self._file[0], "rb")  # noqa: SIM115 - kept open across reads
        return self._handle

    def close(self) -> None:
        """Close the file handle (reopened on the next read)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _read_file(self, lo: int, hi: int, out: np.ndarray) -> None:
        path, start, dtype = self._file
        fh = self._fh()
        fh.seek(start + lo * self.dim * dtype.itemsize)
        view = memoryview(out).cast("B")
        got = fh.readinto(view)
        if got != view.nbytes:
            raise OSError(f"short read from {path}: rows {lo}..{hi - 1} ({got} of {view.nbytes})")

    def read(self, lo: int, hi: int) -> np.ndarray | torch.Tensor:
        """Rows ``lo .. hi-1`` (a copy for file-backed memmaps, else a slice)."""
        if self._file is None:
            return self._z[lo:hi]
        out = np.empty((hi - lo, self.dim), dtype=self._file[2])
        self._read_file(lo, hi, out)
        return out

    def take(self, rows: np.ndarray) -> np.ndarray | torch.Tensor:
        """Rows at the sorted, distinct indices ``rows`` (a copy)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._file is None:
            if isinstance(self._z, torch.Tensor):
                return self._z[torch.from_numpy(rows).to(self._z.device)]
            return np.asarray(self._z[rows])
        out = np.empty((rows.size, self.dim), dtype=self._file[2])
        # one read per run of consecutive rows
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        pos = 0
        for run in np.split(rows, breaks):
            if run.size:
                self._read_file(int(run[0]), int(run[-1]) + 1, out[pos : pos + run.size])
                pos += run.size
        return out

    def chunks(self, chunk_rows: int) -> Iterator[tuple[int, np.ndarray | torch.Tensor]]:
        """Yield ``(lo, rows lo..hi-1)`` over the whole array."""
        for lo in range(0, self.n, chunk_rows):
            yield lo, self.read(lo, min(self.n, lo + chunk_rows))


def file_location(z: object) -> tuple[str, int, np.dtype] | None:
    """``(path, byte offset of row 0, dtype)`` for a file-backed memmap, else None.

    Examples:
        >>> import numpy as np
        >>> file_location(np.zeros((2, 3))) is None
        True
    """
    if not isinstance(z, np.memmap) or not z.flags.c_contiguous:
        return None
    root = z
    while not isinstance(root.base, mmap.mmap):
        if not isinstance(root.base, np.ndarray):
            return None
        root = root.base
    filename = getattr(root, "filename", None)
    # copy-on-write changes live only in the mapping, and the file would not show them
    if filename is None or getattr(root, "mode", "r") == "c" or not os.path.isfile(filename):
        return None
    start = int(root.offset) + (z.ctypes.data - root.ctypes.data)
    return filename, start, z.dtype


def load_embeddings(
    path: str | os.PathLike,
) -> tuple[np.ndarray | torch.Tensor, dict[str, np.ndarray | torch.Tensor]]:
    """Semantic embeddings ``z`` (N, D) and the embeddings of views per family (N, K, D).

    What ``manifold profile --embeddings`` reads:

    - ``.npy``: ``z`` alone (``numpy.save``);
    - ``.npz``: an array ``z`` (or ``semantic``) and ``views_<family>`` arrays (``numpy.savez``);
    - ``.pt``: a tensor (``z`` alone) or a dict ``{"z": ..., "views": {family: ...}}``
      (``torch.save``; read with ``weights_only=True``).

    Args:
        path: The file.

    Returns:
        ``(z, views)``: the arrays as stored (numpy or torch), ``views`` empty when the file has
        none.

    Raises:
        FileNotFoundError: no such file.
        ValueError: another suffix, a file that cannot be read, no ``z``, or shapes that do not
            fit (``z`` not 2-D; views not ``(N, K, D)`` with ``z``'s N and D).

    Examples:
        >>> import tempfile
        >>> import numpy as np
        >>> path = Path(tempfile.mkdtemp()) / "emb.npz"
        >>> np.savez(path, z=np.zeros((5, 3)), views_crop=np.zeros((5, 4, 3)))
        >>> z, views = load_embeddings(path)
        >>> z.shape, {f: v.shape for f, v in views.items()}
        ((5, 3), {'crop': (5, 4, 3)})
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"embeddings file {path} does not exist; check the path")
    views: dict[str, np.ndarray | torch.Tensor] = {}
    if path.suffix == ".npy":
        z = _read(path, np.load)
    elif path.suffix == ".npz":
        data = _read(path, np.load)
        key = "z" if "z" in data else "semantic" if "semantic" in data else None
        if key is None:
            raise ValueError(
                f"{path} has arrays {data.files} but no 'z'; save the semantic embeddings "
                "as z=... (and views as views_<family>=...)"
            )
        z = data[key]
        views = {k[len("views_") :]: data[k] for k in data.files if k.startswith("views_")}
    elif path.suffix == ".pt":
        data = _read(path, lambda p: torch.load(p, map_location="cpu", weights_only=True))
        if isinstance(data, torch.Tensor):
            z = data
        elif isinstance(data, dict) and "z" in data:
            z = data["z"]
            views = dict(data.get("views", {}))
        else:
            raise ValueError(
                f"{path} must hold a tensor or a dict with 'z' (and 'views': {{family: (N, K, D)}})"
            )
    else:
        raise ValueError(f"embeddings must be .npy, .npz or .pt, got {path.name}")
    if len(z.shape) != 2:
        raise ValueError(
            f"{path}: z has shape {tuple(z.shape)}; expected (N, D) semantic embeddings"
        )
    n, d = z.shape
    for fam, v in views.items():
        if len(v.shape) != 3 or v.shape[0] != n or v.shape[2] != d:
            raise ValueError(
                f"{path}: views for {fam!r} have shape {tuple(v.shape)} but z is ({n}, {d}); "
                f"views must be (N, K, D) = ({n}, K, {d}), one row per row of z"
            )
    return z, views


def _read(path: Path, load: Callable[[Path], object]) -> object:
    """``load(path)``, with a file that cannot be read said in one ValueError."""
    try:
        return load(path)
    except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(
            f"cannot read embeddings from {path} ({type(err).__name__}: {err}); save them with "
            "numpy.save / numpy.savez / torch.save"
        ) from err
