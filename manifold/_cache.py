r"""An on-disk cache of float32 arrays: content-hash keys, atomic writes, verified reads.

Entry layout (no pickle, so loading a cache file never runs code)::

    b"MANIFOLD-CACHE\n"                    magic, 15 bytes
    uint64 little-endian                  length of the header
    header (UTF-8 JSON)                   {"format", "key", "shape", "dtype", "sha256", "version"}
    payload                               the array's bytes, C order

An entry is written to a temporary file in the cache directory, flushed, fsynced and moved into
place with :func:`os.replace`, so an interrupted run leaves either the old entry or the new one,
never a partial file under the entry's name. On load, the magic, the header, the key, the
payload length and the payload's sha256 are checked; an entry that fails any check is reported
with a warning and treated as missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["Hasher", "array_fingerprint", "entry_path", "load_entry", "save_entry"]

_MAGIC = b"MANIFOLD-CACHE\n"
_FORMAT = 1


class Hasher:
    """Incremental sha256 over tagged pieces (text, numbers, arrays, state dicts)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def _tag(self, tag: str, data: bytes) -> None:
        self._h.update(f"{tag}:{len(data)}:".encode())
        self._h.update(data)

    def text(self, tag: str, value: Any) -> Hasher:
        """Add ``str(value)``."""
        self._tag(tag, str(value).encode("utf-8"))
        return self

    def array(self, tag: str, value: torch.Tensor | np.ndarray) -> Hasher:
        """Add an array's dtype, shape and bytes."""
        if isinstance(value, torch.Tensor):
            t = value.detach()
            if t.dtype == torch.bfloat16:
                t = t.float()
            value = t.cpu().contiguous().numpy()
        value = np.ascontiguousarray(value)
        self._tag(tag + ".meta", f"{value.dtype.str}{value.shape}".encode())
        self._tag(tag, memoryview(value).cast("B"))
        return self

    def state_dict(self, tag: str, module: torch.nn.Module) -> Hasher:
        """Add a module's class name and every entry of its state dict."""
        self.text(tag + ".class", f"{type(module).__module__}.{type(module).__qualname__}")
        for name, value in module.state_dict().items():
            if isinstance(value, torch.nn.parameter.UninitializedTensorMixin):
                # a lazy module before its first forward: nothing to hash but its kind
                self.text(f"{tag}.{name}", "uninitialised")
            elif isinstance(value, torch.Tensor):
                self.array(f"{tag}.{name}", value)
            else:
                self.text(f"{tag}.{name}", repr(value))
        return self

    def hexdigest(self) -> str:
        """The key."""
        return self._h.hexdigest()


def array_fingerprint(value: torch.Tensor | np.ndarray) -> str:
    """First 16 hex digits of the SHA-256 of an array's dtype, shape and bytes.

    Two runs on the same images (or embeddings) get the same fingerprint, and any other
    images (another subset, order, size or channel count) another one.

    Examples:
        >>> a = np.zeros((2, 3), dtype=np.float32)
        >>> array_fingerprint(a) == array_fingerprint(a.copy()), len(array_fingerprint(a))
        (True, 16)
        >>> array_fingerprint(a) == array_fingerprint(a.reshape(3, 2))
        False
    """
    return Hasher().array("data", value).hexdigest()[:16]


def entry_path(cache_dir: str | os.PathLike, key: str) -> Path:
    """File name of the entry for ``key``."""
    return Path(cache_dir).expanduser() / f"{key}.mfc"


def save_entry(path: Path, key: str, array: np.ndarray, version: str) -> None:
    """Write ``array`` under ``key`` atomically (temp file in the same folder, fsync, replace)."""
    array = np.ascontiguousarray(array)
    payload = memoryview(array).cast("B")
    header = json.dumps(
        {
            "format": _FORMAT,
            "key": key,
            "shape": list(array.shape),
            "dtype": array.dtype.str,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "version": version,
        }
    ).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".mfc", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC)
            f.write(struct.pack("<Q", len(header)))
            f.write(header)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # makes the rename itself durable; not possible on every platform
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_entry(path: Path, key: str, version: str) -> np.ndarray | None:
    """Read the entry for ``key``; ``None`` when absent, or (with a warning) when unusable."""
    if not path.exists():
        return None
    problem = None
    try:
        with open(path, "rb") as f:
            data = f.read()
        problem, array = _parse(data, key, version)
    except OSError as err:
        problem, array = f"cannot be read ({err})", None
    if problem is not None:
        warnings.warn(f"cache entry {path} {problem}; recomputing it", UserWarning, stacklevel=3)
        return None
    return array


def _parse(data: bytes, key: str, version: str) -> tuple[str | None, np.ndarray | None]:
    if not data.startswith(_MAGIC):
        return "is not a manifold cache file (bad magic bytes)", None
    start = len(_MAGIC) + 8
    if len(data) < start:
        return "is truncated (no header)", None
    (header_len,) = struct.unpack("<Q", data[len(_MAGIC) : start])
    try:
        header = json.loads(data[start : start + header_len].decode("utf-8"))
        shape = tuple(int(s) for s in header["shape"])
        dtype = np.dtype(header["dtype"])
        checksum = header["sha256"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "has a corrupt or truncated header", None
    if header.get("format") != _FORMAT:
        return f"has format {header.get('format')!r}, expected {_FORMAT} (stale)", None
    if header.get("key") != key:
        return "holds another key (stale)", None
    if header.get("version") != version:
        return f"was written by version {header.get('version')!r} (stale)", None
    payload = data[start + header_len :]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(payload) != expected:
        return f"is truncated or padded ({len(payload)} payload bytes, expected {expected})", None
    if hashlib.sha256(payload).hexdigest() != checksum:
        return "is corrupt (payload checksum mismatch)", None
    return None, np.frombuffer(payload, dtype=dtype).reshape(shape).copy()
