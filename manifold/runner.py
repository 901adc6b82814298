"""Profile a zoo of models: one job per model, per-part checkpoints, resume, and any executor.

A *part* is the semantic manifold of a model or one augmentation family. A job embeds one
model's images once and computes its missing parts from one
:class:`~manifold.engine.ModelContext` (spectrum and semantic graphs built once). Each finished
part is written to the checkpoint folder by the worker as soon as it completes (atomic writes),
so an interrupted run
— even ``kill -9`` — resumes where it stopped and recomputes nothing that had finished. A model
that fails (unreadable checkpoint, wrong input shape) is reported with its name and reason and
the other models still finish.

Jobs run one after the other by default, or on any :class:`concurrent.futures.Executor`
(a process pool, ``dask.distributed.Client.get_executor()``, Ray's executor, ...). What moves to
a worker is the job description: the model *spec* (a zoo name, a torch.export or TorchScript
path, a ``module.py:factory`` string, a picklable factory, or, only if you pass one, the module
itself),
the images array, and the settings; results come back as small tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from manifold import __version__
from manifold._backend import resolve_device, show_progress
from manifold._checks import as_tensor, check_int
from manifold.engine import (
    METRICS_VERSION,
    ModelContext,
    Recorder,
    mle_neighbours,
    record_family,
    record_semantic,
    warn_failures,
)
from manifold.io import atomic_write
from manifold.profiling import (
    DEFAULT_FAMILIES,
    DEFAULT_N_VIEWS,
    check_families,
    check_views,
    images_fingerprint,
)
from manifold.results import COLUMNS, LAYER, LAYERED_COLUMNS, SEMANTIC, Profile
from manifold.typing import DeviceLike, Family, Images

__all__ = ["ModelSpec", "load_model", "profile_zoo"]

#: A model as a job can carry it: an ``nn.Module``, a zero-argument factory returning one, or a
#: string (``"zoo:<name>"``, ``"efficientnet-lite0"``, a ``torch.export`` or TorchScript file,
#: ``"file.py:factory"``).
ModelSpec = torch.nn.Module | Callable[[], torch.nn.Module] | str


def load_model(spec: ModelSpec, device: DeviceLike = None) -> torch.nn.Module:
    """Turn a model spec into a module on ``device``.

    Specs: an ``nn.Module``; a zero-argument factory; ``"zoo:<name>"``; ``"efficientnet-lite0"``;
    ``"file.py:factory"``; or the path of a ``torch.export`` archive (``torch.export.save``,
    usually ``.pt2``; a program exported for a fixed batch size is fed batches of that size)
    or of a TorchScript file. A ``torch.save`` file is not a model: a state dict has no
    architecture and a pickled model would run the file's code, so both are answered with
    what to pass instead.

    Raises:
        ValueError: an unknown spec or zoo name, a missing or unreadable file, a state dict or
            pickled model, or a factory that fails or returns no Module (one-line messages
            that say how to fix it).
    """
    if device is not None:
        device = resolve_device(device)
    if isinstance(spec, torch.nn.Module):
        model = spec
    elif isinstance(spec, str):
        model = _model_from_string(spec, device)
    elif callable(spec):
        model = spec()
    else:
        raise TypeError(f"a model spec must be a Module, a factory or a str, got {spec!r}")
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model spec {spec!r} gave {type(model).__name__}, not a torch Module")
    return model.to(device) if device is not None else model


def _model_from_string(spec: str, device: torch.device | None) -> torch.nn.Module:
    if spec.startswith("zoo:"):
        from manifold.datasets import load_zoo, zoo_of

        name = spec[4:]
        try:
            zoo = zoo_of(name)
        except ValueError as err:
            raise ValueError(f"{err}; use zoo:<name>") from err
        return load_zoo([name], device=device, zoo=zoo)[0][name]
    if spec in ("efficientnet-lite0", "efficientnet_lite0"):
        from manifold.datasets import efficientnet_lite0

        return efficientnet_lite0(device=device)
    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        return _model_from_factory(spec)
    path = Path(spec).expanduser()
    if path.is_file():
        return _model_from_file(path)
    if path.suffix in (".pt", ".pth", ".ts", ".jit", ".pt2"):
        raise ValueError(f"model file {path} does not exist; check the path")
    raise ValueError(
        f"unknown model {spec!r}: use zoo:<name>, efficientnet-lite0, a torch.export archive "
        "(.pt2), a TorchScript file, or module.py:factory"
    )


def _archive_kind(path: Path) -> str:
    """What a model file holds, from its zip layout: export, torchscript, pickle or unknown."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return "pickle"  # torch.save's legacy format, or not a torch file at all
    with zipfile.ZipFile(path) as archive:
        names = {name.split("/", 1)[-1] for name in archive.namelist()}
    if "models/model.json" in names or any(n.startswith("models/") for n in names):
        return "export"
    if "constants.pkl" in names or any(n.startswith("code/") for n in names):
        return "torchscript"
    if "data.pkl" in names:
        return "pickle"
    return "unknown"


def _model_from_file(path: Path) -> torch.nn.Module:
    """A model from a file: a ``torch.export`` archive, a TorchScript file, or advice.

    A ``torch.save`` file is never unpickled beyond weights: a state dict (weights without the
    architecture) and a whole pickled model (which would run the file's code) are recognised
    and answered with what to do instead.
    """
    import warnings

    kind = _archive_kind(path)
    if kind == "export":
        try:
            return _Exported.load(path)
        except (RuntimeError, ValueError, OSError, KeyError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(f"cannot read {path} as a torch.export archive ({first})") from err
    if kind == "torchscript":
        try:
            with warnings.catch_warnings():
                # torch deprecates jit.load in favour of torch.export; reading one is still fine
                warnings.simplefilter("ignore", DeprecationWarning)
                return torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, ValueError, OSError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(f"cannot read {path} as a TorchScript model ({first})") from err
    if kind == "pickle":
        _explain_saved_file(path)
    raise ValueError(
        f"cannot read {path} as a TorchScript model, a torch.export archive (.pt2) or a "
        "torch.save file; save the model with torch.export.save(torch.export.export(model, "
        "(example_images,)), 'model.pt2'), or use module.py:factory"
    )


def _explain_saved_file(path: Path) -> None:
    """Raise the advice for a ``torch.save`` file: a state dict, a pickled model, or neither."""
    import pickle

    def factory(load: str) -> str:
        return ("write a module.py with a function that builds the model and loads the "
                f"weights (model = MyNet(); model.load_state_dict({load}); return model) and "
                "pass --model module.py:function")  # fmt: skip

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, EOFError) as err:
        try:  # the classes a full unpickling would import: a pickled model has some
            classes = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        except Exception:  # noqa: BLE001 - not a torch.save file: the caller's message
            return
        if not classes:
            return
        own = [c for c in classes if not c.startswith("torch.")] or classes
        raise ValueError(
            f"{path} holds a whole pickled model ({', '.join(sorted(own)[:2])}), saved with "
            "torch.save(model); loading it would run code from the file, which manifold does "
            "not do. Save it with torch.export.save(torch.export.export(model, "
            "(example_images,)), 'model.pt2') and pass that file, or, if you trust the file, "
            "write a module.py with a function that returns "
            f"torch.load({str(path)!r}, weights_only=False) (the model's class must be "
            "importable there) and pass --model module.py:function"
        ) from err
    except (OSError, ValueError):
        return
    found = _state_dict_in(data)
    if found is not None:
        key, weights = found
        names = list(weights)
        load = f"torch.load({str(path)!r})" + (f"[{key!r}]" if key else "")
        raise ValueError(
            f"{path} holds a state_dict ({len(names)} tensors, e.g. {names[0]!r}): weights "
            f"without the architecture; {factory(load)}"
        )


def _state_dict_in(data: Any, key: str = "") -> tuple[str, dict[str, Any]] | None:
    """``(key, tensors)`` of a state dict, alone or in a checkpoint dict (``state_dict``, ...)."""
    if isinstance(data, dict) and data and all(torch.is_tensor(v) for v in data.values()):
        return key, data
    if isinstance(data, dict) and not key:
        for inner in ("state_dict", "model_state_dict", "model", "module", "net"):
            if inner in data:
                return _state_dict_in(data[inner], inner)
    return None


class _Exported(torch.nn.Module):
    """A ``torch.export`` program as a module for the Embedder.

    Its graph is fixed at export: ``train``/``eval`` only set the flag (the exported module
    refuses them), and a program exported for a fixed batch size gets its batches split into
    (and the last one zero-padded to) that size.
    """

    def __init__(self, program: torch.nn.Module, batch: int | None) -> None:
        super().__init__()
        self.program = program
        self.batch = batch

    @classmethod
    def load(cls, path: Path) -> _Exported:
        exported = torch.export.load(str(path))
        inputs = [n for n in exported.graph.nodes if n.op == "placeholder"
                  and n.name in exported.graph_signature.user_inputs]  # fmt: skip
        if len(inputs) != 1:
            raise ValueError(f"the program takes {len(inputs)} inputs; expected one (images)")
        shape = getattr(inputs[0].meta.get("val"), "shape", None)
        batch = shape[0] if shape is not None and isinstance(shape[0], int) else None
        return cls(exported.module(), batch)

    def train(self, mode: bool = True) -> _Exported:
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> Any:
        if self.batch is None or len(x) == self.batch:
            return self.program(x)
        outputs = []
        for start in range(0, len(x), self.batch):
            chunk = x[start : start + self.batch]
            n = len(chunk)
            if n < self.batch:
                pad = chunk.new_zeros((self.batch - n, *chunk.shape[1:]))
                chunk = torch.cat([chunk, pad])
            out = self.program(chunk)
            if not torch.is_tensor(out):
                raise ValueError(
                    "a torch.export program of fixed batch size must return one tensor; "
                    "export it with a dynamic batch dimension (dynamic_shapes)"
                )
            outputs.append(out[:n])
        return torch.cat(outputs)


def _model_from_factory(spec: str) -> torch.nn.Module:
    import importlib.util

    file, factory = spec.rsplit(":", 1)
    if not Path(file).is_file():
        raise ValueError(f"model file {file} does not exist; check the path in {spec}")
    mod_spec = importlib.util.spec_from_file_location("_manifold_user_model", file)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - any error in the user's file is reported as one line
        raise ValueError(
            f"importing {file} failed ({type(err).__name__}: {err}); fix the file or run it "
            "alone to see the traceback"
        ) from err
    if not callable(getattr(module, factory, None)):
        raise ValueError(
            f"{file} has no function {factory!r}; name a function that returns the model"
        )
    model = getattr(module, factory)()
    if not isinstance(model, torch.nn.Module):
        raise ValueError(
            f"{file}:{factory}() returned {type(model).__name__}; it must return a torch.nn.Module"
        )
    return model


@dataclass
class _Job:
    """One model's parts still to compute (the semantic manifold and/or families)."""

    model: str
    spec: Any
    images: Any
    settings: dict[str, Any]
    checkpoint: str | None
    parts: list[tuple[str, Any]]
    fingerprint: str
    #: the spec names a model whose weights only loading it shows (a factory): the worker
    #: hashes the loaded model's state into the fingerprint and reads the checkpoints itself
    hash_state: bool = False


@dataclass
class _Result:
    model: str
    part: str
    table: pd.DataFrame
    failures: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    spectrum: Any = None  # the semantic part's Spectrum (one representation only)
    fingerprint: str = ""  # of the inputs the part was computed from


def _fingerprint(settings: dict[str, Any], images: Any, identity: Any = None) -> str:
    """Identifies the inputs of a run, so a checkpoint from other settings is not reused.

    ``identity`` holds what the settings name only by a label: the model spec's content and
    the parameters of each augmentation family.
    """
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    if identity is not None:
        h.update(json.dumps(identity, sort_keys=True, default=str).encode())
    arr = np.ascontiguousarray(images.detach().cpu().numpy() if torch.is_tensor(images) else images)
    h.update(str(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()[:16]


def _model_identity(spec: Any) -> tuple[str, bool]:
    """Text that changes when the model behind a spec changes, and whether it is complete.

    A module contributes its class and state dict; a TorchScript or ``torch.export`` file its
    bytes; a zoo name the zoo's manifest (which holds every weight file's SHA-256): all
    complete. A factory (``file.py:factory``, a callable) or ``efficientnet-lite0`` can load
    any weights, so its text (the ``.py`` file's bytes, the callable's source) is incomplete:
    the job hashes the state of the model the factory returns (:func:`_state_fingerprint`).
    """
    from manifold import __version__
    from manifold._cache import Hasher
    from manifold.augment import callable_identity

    h = Hasher().text("version", __version__)
    if isinstance(spec, torch.nn.Module):
        h.state_dict("module", spec)
        return h.hexdigest(), True
    if not isinstance(spec, str):
        h.text("factory", callable_identity(spec))
        return h.hexdigest(), False
    h.text("spec", spec)
    if spec.startswith("zoo:"):
        from manifold.datasets import zoo_dir, zoo_of

        try:
            manifest = zoo_dir(zoo_of(spec[4:])) / "manifest.json"
        except ValueError:  # an unknown name fails in its job and is reported there
            return h.hexdigest(), True
        h.text("manifest", hashlib.sha256(manifest.read_bytes()).hexdigest())
        return h.hexdigest(), True
    factory = ".py:" in spec
    path = Path(spec.rsplit(":", 1)[0] if factory else spec).expanduser()
    if path.is_file():
        h.text("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return h.hexdigest(), path.is_file() and not factory


def _state_fingerprint(fingerprint: str, model: torch.nn.Module) -> str:
    """``fingerprint`` extended by the model's state (class, parameters and buffers)."""
    from manifold._cache import Hasher

    return Hasher().text("inputs", fingerprint).state_dict("state", model).hexdigest()[:16]


def _family_identity(family: Any, images: torch.Tensor) -> str:
    """The family's parameters (a kornia module's repr, a named family's definition)."""
    from manifold.augment import describe_family

    _, channels, height, width = images.shape
    try:
        return describe_family(family, (height, width), channels)
    except (TypeError, ValueError):  # such a family fails in its job and is reported there
        return str(family)


def _part_path(checkpoint: str, model: str, part: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{model}__{part}")
    return Path(checkpoint) / f"{safe}.csv"


def _read_part(path: Path, fingerprint: str) -> _Result | None:
    meta_path = path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") != fingerprint:
            return None
        table = pd.read_csv(path, dtype={LAYER: str})
        if list(table.columns) not in (COLUMNS, LAYERED_COLUMNS) or len(table) != meta.get("rows"):
            return None
        spectrum = meta.get("spectrum")
        if spectrum is not None:
            from manifold._spectrum import Spectrum

            spectrum = Spectrum.from_dict(spectrum)
    except (OSError, ValueError, TypeError, KeyError, pd.errors.ParserError):
        return None  # unreadable: the part is computed again
    return _Result(meta["model"], meta["part"], table, meta.get("failures", []), 0.0, spectrum)


def _write_part(path: Path, result: _Result, fingerprint: str) -> None:
    atomic_write(path, lambda p: result.table.to_csv(p, index=False))
    meta = {
        "model": result.model,
        "part": result.part,
        "rows": len(result.table),
        "failures": result.failures,
        "seconds": result.seconds,
        "fingerprint": fingerprint,
        "spectrum": None if result.spectrum is None else result.spectrum.to_dict(),
    }
    # the metadata is written last: a part counts as finished only once both files exist
    atomic_write(path.with_suffix(".json"), lambda p: p.write_text(json.dumps(meta)))


def _context(job: _Job, z: Any, name: str) -> ModelContext:
    """The engine context of one representation of a job, with the job's settings."""
    s = job.settings
    zt, _ = as_tensor(z, name, min_sizes={"N": s["k"] + 1})
    return ModelContext(zt, s["k"], Recorder(job.model), seed=s["seed"],
                        max_samples=s["max_samples"],
                        n_bootstrap=s.get("n_bootstrap", 0))  # fmt: skip


def _run_job(job: _Job) -> list[_Result]:
    """Compute the missing parts of one model (runs in the worker).

    The model is loaded and the images embedded once, and one :class:`ModelContext` builds the
    semantic spectrum and graphs once for every part. Each finished part is checkpointed at
    once, so an interrupted job keeps the parts it finished.
    """
    from manifold.embed import Embedder

    s = job.settings
    started = time.time()
    model = load_model(job.spec, device=s["device"])
    found: list[_Result] = []
    if job.hash_state:  # the weights the factory loaded are part of every checkpoint's key
        job.fingerprint = _state_fingerprint(job.fingerprint, model)
        found, job.parts = _checkpointed(job, job.parts)
        if not job.parts:
            return found
    cache = None if job.checkpoint is None else str(Path(job.checkpoint) / "embeddings")
    if s.get("layers") is not None:
        return found + _run_layers_job(job, model, cache, started)
    embedder = Embedder(
        model, layer=s["layer"], device=s["device"], batch_size=s["batch_size"],
        cache_dir=cache, progress=False, output=s.get("output"),
    )  # fmt: skip
    # graph failures are reported by the semantic part (this job's or a checkpointed one)
    ctx = _context(job, embedder.embed(job.images), "embeddings")
    z = ctx.z
    options = {"curvature"} if s["curvature"] else set()
    results = []
    for part, family in job.parts:
        rec = Recorder(job.model)
        if part == SEMANTIC:
            ctx.recorder = rec
            record_semantic(ctx, options)
        else:
            v = embedder.embed_views(job.images, family, n_views=s["n_views"], seed=s["seed"])
            record_family(ctx, part, check_views(v, part, z), recorder=rec)
        result = _Result(job.model, part, rec.table(), rec.failures, time.time() - started,
                         fingerprint=job.fingerprint)  # fmt: skip
        if part == SEMANTIC:
            result.spectrum = ctx.spectrum  # built once for the spectral metrics
        started = time.time()
        if job.checkpoint is not None:
            _write_part(_part_path(job.checkpoint, job.model, part), result, job.fingerprint)
        results.append(result)
    return found + results


def _checkpointed(job: _Job, parts: list[tuple[str, Any]]) -> tuple[list[_Result], list]:
    """The parts of ``job`` read back from its checkpoints, and those still to compute."""
    found, missing = [], []
    for part, family in parts:
        result = None
        if job.checkpoint is not None:
            result = _read_part(_part_path(job.checkpoint, job.model, part), job.fingerprint)
        if result is None:
            missing.append((part, family))
        else:
            result.fingerprint = job.fingerprint
            found.append(result)
    return found, missing


def _run_layers_job(job: _Job, model: torch.nn.Module, cache: str | None, started: float):
    """A job of a layer sweep: one forward pass per batch for every layer of the model.

    A part (the semantic manifold or a family) holds the rows of every layer, with a ``layer``
    column; it is checkpointed once all its layers are done.
    """
    from manifold.embed import Embedder

    s = job.settings
    embedder = Embedder(
        model, layers=s["layers"], device=s["device"], batch_size=s["batch_size"],
        cache_dir=cache, progress=False, output=s.get("output"),
    )  # fmt: skip
    contexts = {
        layer: _context(job, z, f"embeddings of layer {layer!r}")
        for layer, z in embedder.embed(job.images).items()
    }
    options = {"curvature"} if s["curvature"] else set()
    results = []
    for part, family in job.parts:
        per_layer = None
        if part != SEMANTIC:
            per_layer = embedder.embed_views(
                job.images, family, n_views=s["n_views"], seed=s["seed"]
            )
        tables, failures = [], []
        for layer, ctx in contexts.items():
            rec = Recorder(job.model)
            if part == SEMANTIC:
                ctx.recorder = rec
                record_semantic(ctx, options)
            else:
                record_family(ctx, part, check_views(per_layer[layer], part, ctx.z), recorder=rec)
            table = rec.table()
            table.insert(1, LAYER, layer)
            tables.append(table)
            failures.extend({**f, LAYER: layer} for f in rec.failures)
        table = pd.concat(tables, ignore_index=True)
        result = _Result(job.model, part, table, failures, time.time() - started,
                         fingerprint=job.fingerprint)  # fmt: skip
        started = time.time()
        if job.checkpoint is not None:
            _write_part(_part_path(job.checkpoint, job.model, part), result, job.fingerprint)
        results.append(result)
    return results


def _layer_major(table: pd.DataFrame) -> pd.DataFrame:
    """One model's rows grouped by layer (in sweep order), each layer's rows in part order."""
    order = {layer: i for i, layer in enumerate(dict.fromkeys(table[LAYER]))}
    rank = table[LAYER].map(order).to_numpy()
    return table.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)


def profile_zoo(
    models: Mapping[str, ModelSpec],
    images: Images,
    families: Family | Iterable[Family] = DEFAULT_FAMILIES,
    n_views: int = DEFAULT_N_VIEWS,
    k: int = 10,
    seed: int = 0,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    executor: Executor | None = None,
    layer: str | None = None,
    device: DeviceLike = None,
    batch_size: int = 256,
    max_samples: int | None = 25600,
    curvature: bool = False,
    progress: bool | None = None,
    output: int | str | None = None,
    layers: str | Iterable[str] | None = None,
    n_bootstrap: int = 0,
) -> Profile:
    """Profile many models, part by part, with checkpoints and an optional executor.

    Each model is one job: it computes the parts not yet checkpointed — the semantic manifold,
    then each augmentation family — with the same engine as :func:`~manifold.profile`
    (the semantic spectrum and graphs are built once per model) and, with ``checkpoint_dir``,
    writes each part's rows there as soon as the part finishes. Rerunning with the same
    arguments reads the finished parts and computes only the missing ones, so the final table
    equals an uninterrupted run's. A checkpoint written with other settings, other images,
    another model under the same name (other weights, file or factory code) or other
    augmentation parameters is ignored (it is keyed by a fingerprint of all of them). The
    weights are those of the model as loaded: a factory (``"file.py:factory"``, a callable,
    ``"efficientnet-lite0"``) is called in its job and the state of the module it returns
    (parameters and buffers) is hashed into the key before any checkpoint is read, so a
    factory that loads retrained weights from a file is never answered from the old ones.
    A module, a TorchScript or ``torch.export`` file and a zoo name are identified without
    loading (their state, their bytes, the zoo's manifest of weight checksums), so a run whose
    parts are all checkpointed loads none of them.

    A model whose job raises (unreadable checkpoint, wrong input shape, ...) is reported in
    :attr:`Profile.failures` (``metric == "model"``) with the reason; the others finish.

    Args:
        models: Name -> model spec: an ``nn.Module``, a zero-argument factory, or a string
            (``"zoo:<name>"``, ``"efficientnet-lite0"``, a ``torch.export`` or TorchScript file,
            ``"file.py:factory"``). With a remote executor prefer strings or factories: they
            travel instead of pickled weights, and each worker loads the model itself.
        images: Images (N, C, H, W) in [0, 1], sent to every job.
        families: One family or an iterable of families, each a name, a kornia augmentation
            or a callable (checked at the call, as in :func:`~manifold.profile`).
        n_views: Views per image (K).
        k: Neighbours per node.
        seed: Seed for augmentations and subsampling.
        checkpoint_dir: Folder for finished parts (and the embedding cache); ``None`` keeps
            nothing on disk.
        executor: A :class:`concurrent.futures.Executor` (e.g.
            ``dask.distributed.Client(...).get_executor()``); ``None`` runs jobs in this process.
        layer: Submodule whose output is the representation.
        layers: A layer sweep of every model (names, glob patterns or ``"all"``, resolved per
            model by :func:`~manifold.embed.select_layers`): one forward pass per batch feeds
            all of them, and the table gets a ``layer`` column, as in
            :func:`~manifold.profile`. A model without one of the names fails with the list of
            its names; the others finish.
        device: Device for the models (on each worker): ``"auto"``, ``"cpu"``, ``"cuda"``,
            ``"cuda:<index>"``, ``"mps"`` or a :class:`torch.device`; checked here first.
        batch_size: Images per forward pass.
        max_samples: Row cap for RankMe.
        curvature: Also compute Ricci curvatures of the semantic NNK graph.
        progress: Show a progress bar over jobs; ``None``: only when stderr is a terminal.
        output: Index or key of the representation when a model returns a tuple, list or
            dict (see :func:`manifold.embed.select_output`).
        n_bootstrap: Resamples of the images for bootstrap standard errors (rows with
            statistic ``"se"``, as in :func:`~manifold.profile`; 0: none, else at least 2).

    Returns:
        The :class:`Profile` of every model that did not fail, in the order of ``models``.

    Raises:
        RuntimeError: if every model failed (the message lists each reason).
    """
    k = check_int(k, "k", minimum=1)
    n_views = check_int(n_views, "n_views", minimum=2)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if max_samples is not None:
        max_samples = check_int(max_samples, "max_samples", minimum=2)
    if device is not None:
        resolve_device(device)  # an unknown device fails here, not in every job
    if output is not None and not isinstance(output, (int, str)):
        raise TypeError(f"output must be an index (int) or a key (str), got {output!r}")
    if not isinstance(models, Mapping):
        raise TypeError(f"models must be a mapping name -> model spec, got {type(models).__name__}")
    if not models:
        raise ValueError("models is empty: give a mapping name -> model spec")
    if executor is not None and not isinstance(executor, Executor):
        if not callable(getattr(executor, "submit", None)):
            raise TypeError("executor must be a concurrent.futures.Executor (or have .submit)")
    from manifold.augment import check_images

    images = check_images(images, channels=False)
    if layers is not None and layer is not None:
        raise ValueError("give layer= (one submodule) or layers= (several), not both")
    checked = check_families(families)
    fams, names = list(checked.values()), list(checked)
    settings = {
        "n_images": int(images.shape[0]), "n_views": n_views, "k": k, "seed": seed,
        "families": names, "layer": layer, "max_samples": max_samples,
        "curvature": curvature, "batch_size": batch_size,
        "device": None if device is None else str(device),
        "k_mle": mle_neighbours(int(images.shape[0])), "version": __version__,
        "metrics_version": METRICS_VERSION,
        **({} if output is None else {"output": output}),
    }  # fmt: skip
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=0)
    if n_bootstrap == 1:
        raise ValueError("n_bootstrap must be 0 (no standard errors) or at least 2, got 1")
    if n_bootstrap:  # only when asked, so the fingerprints of other runs do not change
        settings["n_bootstrap"] = n_bootstrap
    if layers is not None:  # only in sweeps, so the fingerprints of other runs do not change
        from manifold.embed import check_layer_entries

        settings["layers"] = check_layer_entries(layers)  # resolved per model, in its job
    families_identity = [_family_identity(f, images) for f in fams]
    identities = {name: _model_identity(spec) for name, spec in models.items()}
    fingerprints = {
        name: _fingerprint(settings, images, [identities[name][0], families_identity])
        for name in models
    }
    ckpt = None if checkpoint_dir is None else str(checkpoint_dir)
    if ckpt is not None:
        Path(ckpt).mkdir(parents=True, exist_ok=True)

    parts = [(SEMANTIC, None), *zip(names, fams, strict=True)]
    done: dict[tuple[str, str], _Result] = {}
    jobs: list[_Job] = []
    for model_name, spec in models.items():
        job = _Job(model_name, spec, images, settings, ckpt, parts, fingerprints[model_name])
        if not identities[model_name][1]:  # the job hashes the loaded weights, then reads
            job.hash_state = True
            jobs.append(job)
            continue
        found, job.parts = _checkpointed(job, parts)
        for result in found:
            done[(model_name, result.part)] = result
        if job.parts:
            jobs.append(job)

    failed: dict[str, str] = {}
    bar = None
    if show_progress(progress) and jobs:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="profile_zoo", leave=False)

    def finish(job: _Job, results: list[_Result] | None, error: BaseException | None) -> None:
        if bar is not None:
            bar.update(1)
        if error is not None:
            failed.setdefault(job.model, f"{type(error).__name__}: {error}")
            return
        for result in results:
            done[(job.model, result.part)] = result

    if executor is None:
        for job in jobs:
            try:
                results = _run_job(job)
            except Exception as err:  # noqa: BLE001 - one broken model must not stop the zoo
                finish(job, None, err)
            else:
                finish(job, results, None)
    else:
        futures = [(job, executor.submit(_run_job, job)) for job in jobs]
        for job, future in futures:
            try:
                results = future.result()
            except Exception as err:  # noqa: BLE001 - reported per model below
                finish(job, None, err)
            else:
                finish(job, results, None)
    if bar is not None:
        bar.close()

    tables, failures, run_settings, spectra = [], [], {}, {}
    data_fingerprint = images_fingerprint(images)
    for model_name in models:
        if model_name in failed:
            failures.append(
                {"model": model_name, "manifold": "*", "metric": "model",
                 "error": failed[model_name]}
            )  # fmt: skip
            continue
        model_tables = []
        for part, _ in parts:
            result = done[(model_name, part)]
            fingerprint = result.fingerprint or fingerprints[model_name]
            model_tables.append(result.table)
            failures.extend(result.failures)
            if result.spectrum is not None:
                spectra[model_name] = result.spectrum
        if layers is not None:  # layer by layer, as profile(..., layers=) orders its rows
            model_tables = [_layer_major(pd.concat(model_tables, ignore_index=True))]
        tables.extend(model_tables)
        run_settings[model_name] = {
            **settings, "mode": "model", "fingerprint": fingerprint,
            "data_fingerprint": data_fingerprint,
        }  # fmt: skip
    if not run_settings:
        reasons = "; ".join(f"{m}: {e}" for m, e in failed.items())
        raise RuntimeError(f"every model failed: {reasons}")
    columns = LAYERED_COLUMNS if layers is not None else COLUMNS
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    warn_failures(failures)
    return Profile(table[columns], run_settings, failures, spectra)
