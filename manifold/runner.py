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

import dataclasses
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
from manifold._checks import as_tensor
from manifold._validation import (
    Boolean,
    Device,
    InstanceOf,
    Integral,
    NoneOK,
    Resamples,
    Seed,
    validate_params,
)
from manifold._validation import Callable as CallableOK
from manifold.augment import check_families, images_fingerprint
from manifold.engine import (
    METRICS_VERSION,
    ModelContext,
    Recorder,
    check_views,
    mle_neighbours,
    record_family,
    record_semantic,
    warn_failures,
)
from manifold.io import atomic_write
from manifold.results import COLUMNS, LAYER, LAYERED_COLUMNS, SEMANTIC, Profile
from manifold.settings import DEFAULT_FAMILIES, DEFAULT_N_VIEWS, RANKME_MAX_SAMPLES, Settings
from manifold.typing import DeviceLike, Family, Images

__all__ = ["ModelSpec", "load_model", "profile_zoo"]
# Job, run_job, run_jobs, job_settings, job_profile, profile_settings, PartResult and VIEW_ERRORS
# are the drivers' shared machinery (profile, its layer sweep, profile_zoo and Monitor run
# jobs): public names so that the drivers import them, but not the package's API

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
class Job:
    """One model's profiling job: the one unit of work of every driver.

    :func:`~manifold.profile` runs one job in its process, a layer sweep is a job whose
    ``settings`` name several layers, :func:`profile_zoo` runs one job per model (serially or
    on an executor), and each call of a :class:`~manifold.Monitor` runs one on its probe
    batch. :func:`run_job` computes the job's parts (the semantic manifold, then each family)
    with one :class:`~manifold.engine.ModelContext` per representation.

    Attributes:
        model: The model's name in the table.
        spec: A model spec (:data:`ModelSpec`), or ``None`` with ready-made ``embeddings``.
        images: Images ``(N, C, H, W)`` (``None`` with ``embeddings``).
        settings: The job's options (k, seed, n_views, max_samples, curvature, n_bootstrap,
            layer, layers, batch_size, device, output, version, metrics_version). In
            :func:`profile_zoo` they also key the checkpoints.
        checkpoint: Folder of finished parts (``None``: nothing written).
        parts: ``(part, family)`` pairs still to compute: ``(SEMANTIC, None)`` and each family.
        fingerprint: Key of the checkpoints.
        hash_state: The spec names a model whose weights only loading it shows (a factory):
            the worker hashes the loaded model's state into the fingerprint and reads the
            checkpoints itself.
        transform: Applied to image batches before the model.
        cache_dir: Folder of the Embedder's cache (``None``: the checkpoint folder's
            ``embeddings``, or no cache).
        embeddings: Ready-made semantic embeddings ``(N, D)``, validated (no model is run).
        views: With ``embeddings``: family -> views ``(N, K, D)``, validated. With a model:
            family -> view images ``(N, K, C, H, W)`` drawn beforehand (a family not in it is
            drawn by the job).
        names: Registry entries to record (``None``: all).
        progress: Show a progress bar over the parts.
    """

    model: str
    spec: Any
    images: Any
    settings: dict[str, Any]
    checkpoint: str | None = None
    parts: list[tuple[str, Any]] = field(default_factory=list)
    fingerprint: str = ""
    hash_state: bool = False
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    cache_dir: str | None = None
    embeddings: Any = None
    views: Mapping[str, Any] | None = None
    names: tuple[str, ...] | None = None
    progress: bool | None = False


@dataclass
class PartResult:
    """The rows of one part of a job (the semantic manifold or a family) and their failures.

    ``info`` holds what the part learnt about its inputs, for the profile's settings: the
    semantic part the dimension (``dim``, or ``dims`` of a sweep) and the ``device``; a family
    the number of views ``n_views``. A part whose views could not be made has
    ``complete=False`` and is not checkpointed (a rerun tries it again).
    """

    model: str
    part: str
    table: pd.DataFrame
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    spectrum: Any = None  # the semantic part's Spectrum (one representation only)
    fingerprint: str = ""  # of the inputs the part was computed from
    info: dict[str, Any] = field(default_factory=dict)
    complete: bool = True


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


def _read_part(path: Path, fingerprint: str) -> PartResult | None:
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
    return PartResult(meta["model"], meta["part"], table, meta.get("failures", []),
                      float(meta.get("seconds") or 0.0), spectrum,
                      info=meta.get("info") or {})  # fmt: skip


def _write_part(path: Path, result: PartResult, fingerprint: str) -> None:
    atomic_write(path, lambda p: result.table.to_csv(p, index=False))
    meta = {
        "model": result.model,
        "part": result.part,
        "rows": len(result.table),
        "failures": result.failures,
        "seconds": result.seconds,
        "fingerprint": fingerprint,
        "spectrum": None if result.spectrum is None else result.spectrum.to_dict(),
        "info": result.info,
    }
    # the metadata is written last: a part counts as finished only once both files exist
    atomic_write(path.with_suffix(".json"), lambda p: p.write_text(json.dumps(meta)))


#: The errors of making one family's views (drawing them, embedding them, their shape) that
#: every driver records as that family's failure (metric ``"views"``) rather than raising.
VIEW_ERRORS = (ValueError, RuntimeError, TypeError)


def job_settings(
    *,
    n_images: int,
    n_views: int,
    k: int,
    seed: int,
    families: list[str],
    layer: str | None,
    max_samples: int | None,
    curvature: bool,
    batch_size: int,
    device: DeviceLike,
    output: int | str | None,
    n_bootstrap: int,
    layers: list[str] | None,
) -> dict[str, Any]:
    """The options of a job, as one dict (also the key of :func:`profile_zoo`'s checkpoints).

    ``output``, ``n_bootstrap`` and ``layers`` are present only when set, so that the
    checkpoints of runs without them keep their keys.
    """
    settings = {
        "n_images": n_images, "n_views": n_views, "k": k, "seed": seed,
        "families": families, "layer": layer, "max_samples": max_samples,
        "curvature": curvature, "batch_size": batch_size,
        "device": None if device is None else str(device),
        "k_mle": mle_neighbours(n_images), "version": __version__,
        "metrics_version": METRICS_VERSION,
        **({} if output is None else {"output": output}),
    }  # fmt: skip
    if n_bootstrap:
        settings["n_bootstrap"] = n_bootstrap
    if layers is not None:
        settings["layers"] = layers
    return settings


def _context(job: Job, z: Any, name: str) -> ModelContext:
    """The engine context of one representation of a job, with the job's settings."""
    s = job.settings
    zt, _ = as_tensor(z, name, min_sizes={"N": s["k"] + 1})
    return ModelContext(zt, s["k"], Recorder(job.model), seed=s["seed"],
                        max_samples=s["max_samples"],
                        n_bootstrap=s.get("n_bootstrap", 0))  # fmt: skip


def _embedder(job: Job, model: torch.nn.Module) -> Any:
    from manifold.embed import Embedder

    s = job.settings
    cache = job.cache_dir
    if cache is None and job.checkpoint is not None:
        cache = str(Path(job.checkpoint) / "embeddings")
    return Embedder(
        model, layer=s["layer"], layers=s.get("layers"), device=s["device"],
        batch_size=s["batch_size"], transform=job.transform, cache_dir=cache,
        # one progress bar at a time: the driver's own
        progress=False, output=s.get("output"),
    )  # fmt: skip


def run_job(job: Job, contexts: dict[str | None, ModelContext] | None = None) -> list[PartResult]:
    """Compute the missing parts of one job (in the driver's process or in a worker).

    The model is loaded and the images embedded once (every layer of a sweep from one forward
    pass per batch), and one :class:`~manifold.engine.ModelContext` per representation builds
    the spectrum and the graphs once for every part. The failure policy is the same for every
    driver:

    - a metric that cannot be computed is recorded as a failure by the
      :class:`~manifold.engine.Recorder` (the other metrics are computed);
    - a family whose views cannot be made (drawn, embedded, or of the wrong shape: one of
      :data:`VIEW_ERRORS`) is recorded as that family's failure (metric ``"views"``, for each
      layer of a sweep) and its part is not checkpointed; the other parts are computed;
    - anything else (the model cannot be loaded, the images cannot be embedded) raises: a
      driver of one model raises it, :func:`profile_zoo` records it as the model's failure.

    Each finished part is checkpointed at once (with ``job.checkpoint``), so an interrupted
    job keeps the parts it finished.

    Args:
        job: The job.
        contexts: If given, filled with the engine context of each representation (key
            ``None`` for one representation, else the layer), e.g. for a check of the
            embeddings after the metrics.

    Returns:
        One :class:`PartResult` per part of ``job.parts``, those read from the checkpoints
        included, in order.
    """
    s = job.settings
    started = time.time()
    found: list[PartResult] = []
    embedder = None
    info: dict[str, Any] = {}
    if job.embeddings is not None:
        reps = {None: job.embeddings}
    else:
        model = load_model(job.spec, device=s["device"])
        if job.hash_state:  # the weights the factory loaded are part of every checkpoint's key
            job.fingerprint = _state_fingerprint(job.fingerprint, model)
            found, job.parts = _checkpointed(job, job.parts)
            if not job.parts:
                return found
        embedder = _embedder(job, model)
        z = embedder.embed(job.images)
        reps = z if embedder.layers is not None else {None: z}
        info["device"] = str(embedder.device)
    sweep = len(reps) > 1 or next(iter(reps)) is not None
    built = {
        layer: _context(job, z, "embeddings" if layer is None else f"embeddings of layer {layer!r}")
        for layer, z in reps.items()
    }
    if contexts is not None:
        contexts.update(built)
    if sweep:
        info["dims"] = {layer: int(ctx.z.shape[1]) for layer, ctx in built.items()}
    else:
        info["dim"] = int(built[None].z.shape[1])
    options = {"curvature"} if s["curvature"] else set()
    results = []
    for part, family in _progress(job.parts, job.progress, f"profile {job.model}"):
        views = None if part == SEMANTIC else _views(job, embedder, part, family)
        tables, failures, part_info, complete = [], [], {}, True
        for layer, ctx in built.items():
            rec = Recorder(job.model)
            if part == SEMANTIC:
                # graph failures are reported by the semantic part (this job's or a
                # checkpointed one)
                ctx.recorder = rec
                record_semantic(ctx, options, names=job.names)
                part_info = info
            else:
                try:
                    if isinstance(views, BaseException):
                        raise views
                    vt = check_views(views[layer], part, ctx.z)
                except VIEW_ERRORS as err:
                    rec.failures.append(
                        {"model": job.model, "manifold": part, "metric": "views", "error": str(err)}
                    )
                    complete = False
                else:
                    part_info = {"n_views": int(vt.shape[1])}
                    record_family(ctx, part, vt, recorder=rec, names=job.names)
            table = rec.table()
            if sweep:
                table.insert(1, LAYER, layer)
            tables.append(table)
            failures.extend(rec.failures if not sweep else
                            [{**f, LAYER: layer} for f in rec.failures])  # fmt: skip
        table = _concat(tables)
        result = PartResult(job.model, part, table, failures, time.time() - started,
                            fingerprint=job.fingerprint, info=part_info,
                            complete=complete)  # fmt: skip
        if part == SEMANTIC and not sweep and job.names is None:
            result.spectrum = built[None].spectrum  # built once for the spectral metrics
        started = time.time()
        if job.checkpoint is not None and complete:
            _write_part(_part_path(job.checkpoint, job.model, part), result, job.fingerprint)
        results.append(result)
    return found + results


def _views(job: Job, embedder: Any, part: str, family: Any) -> dict[str | None, Any] | Exception:
    """The views of one family for every representation, or the error that prevented them."""
    s = job.settings
    try:
        if job.embeddings is not None:
            return {None: job.views[part]}
        if job.views is not None and part in job.views:
            v = embedder.embed_drawn_views(job.views[part])
        else:
            v = embedder.embed_views(job.images, family, n_views=s["n_views"], seed=s["seed"])
    except VIEW_ERRORS as err:
        return err
    return v if embedder.layers is not None else {None: v}


def _checkpointed(job: Job, parts: list[tuple[str, Any]]) -> tuple[list[PartResult], list]:
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


def run_jobs(
    jobs: list[Job], executor: Executor | None = None, progress: bool | None = False
) -> tuple[dict[str, list[PartResult]], dict[str, BaseException]]:
    """Run jobs one after the other, or on ``executor``; a job that raises does not stop others.

    Returns:
        Model -> its parts' results, and model -> the error of each job that raised.
    """
    done: dict[str, list[PartResult]] = {}
    failed: dict[str, BaseException] = {}
    bar = None
    if show_progress(progress) and jobs:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="profile_zoo", leave=False)
    if executor is None:
        outcomes = ((job, lambda job=job: run_job(job)) for job in jobs)
    else:
        futures = [(job, executor.submit(run_job, job)) for job in jobs]
        outcomes = ((job, future.result) for job, future in futures)
    for job, result in outcomes:
        try:
            done[job.model] = result()
        except Exception as err:  # noqa: BLE001 - one broken model must not stop the zoo
            failed.setdefault(job.model, err)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return done, failed


def job_profile(
    jobs: list[Job],
    results: Mapping[str, list[PartResult]],
    failed: Mapping[str, BaseException],
    settings: Callable[[Job, list[PartResult]], Settings],
) -> Profile:
    """The profile of finished jobs: their rows, settings, failures and spectra, in job order.

    A failed job is one failure (metric ``"model"``); the rows of a sweep are grouped by
    layer (in the sweep's order), each layer's rows in part order, and so are its failures.
    """
    tables, failures, run_settings, spectra = [], [], {}, {}
    sweep = any(job.settings.get("layers") is not None for job in jobs)
    for job in jobs:
        if job.model in failed:
            err = failed[job.model]
            failures.append({"model": job.model, "manifold": "*", "metric": "model",
                             "error": f"{type(err).__name__}: {err}"})  # fmt: skip
            continue
        parts = {result.part: result for result in results[job.model]}
        ordered = [parts[part] for part in dict.fromkeys(p for p, _ in job.parts)]
        table = _concat([r.table for r in ordered])
        model_failures = [f for r in ordered for f in r.failures]
        if sweep:  # layer by layer, as profile(..., layers=) orders its rows
            table = _layer_major(table)
            model_failures = _layer_major_failures(model_failures, list(table[LAYER]))
        tables.append(table)
        failures.extend(model_failures)
        for result in ordered:
            if result.spectrum is not None:
                spectra[job.model] = result.spectrum
        run_settings[job.model] = settings(job, ordered).to_dict()
    columns = LAYERED_COLUMNS if sweep else COLUMNS
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    return Profile(table[columns], run_settings, failures, spectra)


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of several tables; a table without rows (a part whose views failed) adds none."""
    rows = [t for t in tables if len(t)]
    if not rows:
        return tables[0]
    return rows[0] if len(rows) == 1 else pd.concat(rows, ignore_index=True)


def _layer_major(table: pd.DataFrame) -> pd.DataFrame:
    """One model's rows grouped by layer (in sweep order), each layer's rows in part order."""
    order = {layer: i for i, layer in enumerate(dict.fromkeys(table[LAYER]))}
    rank = table[LAYER].map(order).to_numpy()
    return table.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)


def _layer_major_failures(failures: list[dict[str, Any]], layers: list[str]) -> list[dict]:
    order = {layer: i for i, layer in enumerate(dict.fromkeys(layers))}
    return sorted(failures, key=lambda f: order.get(f.get(LAYER), len(order)))


def profile_settings(
    job: Job,
    parts: list[PartResult],
    *,
    mode: str,
    fingerprint: str | None = None,
    data_fingerprint: str | None = None,
) -> Settings:
    """The :class:`~manifold.settings.Settings` of a finished job (every driver's one rule)."""
    s = job.settings
    info: dict[str, Any] = {}
    views_per_family: dict[str, int] = {}
    for result in parts:
        if result.part == SEMANTIC:
            info = result.info
        elif "n_views" in result.info:
            views_per_family[result.part] = result.info["n_views"]
    layers = None
    if s.get("layers") is not None:  # the resolved names, in the sweep's order
        if info.get("dims"):
            layers = list(info["dims"])
        else:  # a semantic part checkpointed before the dims were recorded
            layers = list(dict.fromkeys(lay for r in parts for lay in r.table[LAYER]))
    n_images = s["n_images"]
    transform = job.transform
    settings = Settings(
        mode=mode, n_images=n_images, k=s["k"], k_mle=mle_neighbours(n_images), seed=s["seed"],
        max_samples=s["max_samples"], metrics_version=s["metrics_version"],
        version=s["version"],
        n_views=s["n_views"] if mode == "model" else _views_used(views_per_family),
        families=list(s["families"]), layer=s["layer"], layers=layers,
        curvature=s["curvature"], n_bootstrap=s.get("n_bootstrap", 0),
        se=Settings.bootstrap_se(s.get("n_bootstrap", 0)),
        seconds=round(sum(r.seconds for r in parts), 3),
        dim=info.get("dim"), dims=info.get("dims"),
    )  # fmt: skip
    if mode == "model":
        settings.output = s.get("output")
        settings.batch_size = s["batch_size"]
        settings.device = info.get("device", s["device"])
        if transform is not None:
            settings.transform = getattr(transform, "__qualname__", None) or repr(transform)
        settings.data_fingerprint = data_fingerprint or images_fingerprint(job.images)
        settings.fingerprint = fingerprint
    else:
        from manifold._cache import array_fingerprint

        settings.embeddings_fingerprint = array_fingerprint(job.embeddings)
    return settings


def _views_used(views_per_family: dict[str, int]) -> int | dict[str, int] | None:
    """K of the views given with embeddings: one int, a dict when families differ, or None."""
    counts = set(views_per_family.values())
    if not counts:
        return None
    return counts.pop() if len(counts) == 1 else dict(views_per_family)


#: The parameter constraints :func:`profile_zoo` and :func:`~manifold.profile` share.
PROFILE_PARAMETERS = {
    "n_views": [Integral(2, None)],
    "k": [Integral(1, None)],
    "seed": [Seed(), NoneOK],
    "layer": [InstanceOf(str, name="a submodule name (str)"), NoneOK],
    "device": [Device(), NoneOK],
    "batch_size": [Integral(1, None)],
    "transform": [CallableOK(), NoneOK],
    "max_samples": [Integral(2, None), NoneOK],
    "curvature": [Boolean()],
    "progress": [Boolean(), NoneOK],
    "n_bootstrap": [Resamples()],
    "output": [Integral(), InstanceOf(str), NoneOK],
}


def _progress(items: list[Any], enabled: bool | None, desc: str) -> Any:
    if not show_progress(enabled):
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False)


@validate_params(PROFILE_PARAMETERS)
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
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    max_samples: int | None = RANKME_MAX_SAMPLES,
    curvature: bool = False,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
    output: int | str | None = None,
    layers: str | Iterable[str] | None = None,
    n_bootstrap: int = 0,
) -> Profile:
    """Profile many models, part by part, with checkpoints and an optional executor.

    Each model is one job (:func:`run_job`, the job :func:`~manifold.profile` runs for one
    model): it computes the parts not yet checkpointed — the semantic manifold, then each
    augmentation family — (the semantic spectrum and graphs are built once per model) and,
    with ``checkpoint_dir``, writes each part's rows there as soon as the part finishes.
    Rerunning with the same arguments reads the finished parts and computes only the missing
    ones, so the final table equals an uninterrupted run's. A checkpoint written with other
    settings, other images, another model under the same name (other weights, file or factory
    code), another ``transform`` or other augmentation parameters is ignored (it is keyed by
    a fingerprint of all of them). The weights are those of the model as loaded: a factory
    (``"file.py:factory"``, a callable, ``"efficientnet-lite0"``) is called in its job and
    the state of the module it returns (parameters and buffers) is hashed into the key before
    any checkpoint is read, so a factory that loads retrained weights from a file is never
    answered from the old ones. A module, a TorchScript or ``torch.export`` file and a zoo
    name are identified without loading (their state, their bytes, the zoo's manifest of
    weight checksums), so a run whose parts are all checkpointed loads none of them.

    Failures follow :func:`~manifold.profile`'s policy (see :func:`run_job`): a metric that
    cannot be computed, or a family whose views cannot be made (e.g. of the wrong shape), is
    recorded in :attr:`Profile.failures` and the model's other rows are kept; a model whose
    job raises (unreadable checkpoint, wrong input shape, ...) is reported in
    :attr:`Profile.failures` (``metric == "model"``) with the reason, and the others finish.

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
        checkpoint_dir: Folder for finished parts (and, without ``cache_dir``, the embedding
            cache); ``None`` keeps nothing on disk.
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
        transform: Applied to image batches before each model (e.g. normalisation), as in
            :func:`~manifold.profile`; with an executor it must be picklable.
        max_samples: Row cap for RankMe.
        curvature: Also compute Ricci curvatures of the semantic NNK graph.
        cache_dir: Folder for the Embedder's on-disk cache (default: ``checkpoint_dir``'s
            ``embeddings`` folder, or none).
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
    if device is not None:
        resolve_device(device)  # a device this machine lacks fails here, not in every job
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
    if layers is not None:
        from manifold.embed import check_layer_entries

        layers = check_layer_entries(layers)  # resolved per model, in its job
    settings = job_settings(
        n_images=int(images.shape[0]), n_views=n_views, k=k, seed=seed, families=names,
        layer=layer, max_samples=max_samples, curvature=curvature, batch_size=batch_size,
        device=device, output=output, n_bootstrap=n_bootstrap, layers=layers,
    )  # fmt: skip
    # the metrics' version as this module names it (a test can pretend to be an older one)
    settings["metrics_version"] = METRICS_VERSION
    identity: list[Any] = [[_family_identity(f, images) for f in fams]]
    if transform is not None:  # only when given, so the fingerprints of other runs do not change
        identity.append(_transform_identity(transform))
    identities = {name: _model_identity(spec) for name, spec in models.items()}
    fingerprints = {
        name: _fingerprint(settings, images, [identities[name][0], *identity]) for name in models
    }
    ckpt = None if checkpoint_dir is None else str(checkpoint_dir)
    if ckpt is not None:
        Path(ckpt).mkdir(parents=True, exist_ok=True)
    cache = None if cache_dir is None else str(cache_dir)

    parts = [(SEMANTIC, None), *zip(names, fams, strict=True)]
    jobs: list[Job] = []
    found: dict[str, list[PartResult]] = {}
    pending: list[Job] = []
    for model_name, spec in models.items():
        job = Job(model_name, spec, images, settings, ckpt, parts, fingerprints[model_name],
                  transform=transform, cache_dir=cache)  # fmt: skip
        jobs.append(job)
        if not identities[model_name][1]:  # the job hashes the loaded weights, then reads
            job.hash_state = True
            pending.append(dataclasses.replace(job))  # the job's parts stay those of the model
            continue
        found[model_name], missing = _checkpointed(job, parts)
        if missing:
            pending.append(dataclasses.replace(job, parts=missing))

    done, failed = run_jobs(pending, executor, progress)
    for model_name, results in done.items():
        found[model_name] = found.get(model_name, []) + results
    data_fingerprint = images_fingerprint(images)

    def model_settings(job: Job, results: list[PartResult]) -> Settings:
        settings = profile_settings(job, results, mode="model",
                                    fingerprint=results[0].fingerprint or job.fingerprint,
                                    data_fingerprint=data_fingerprint)  # fmt: skip
        return settings

    prof = job_profile(jobs, found, failed, model_settings)
    if not prof.settings:
        reasons = "; ".join(f"{m}: {type(e).__name__}: {e}" for m, e in failed.items())
        raise RuntimeError(f"every model failed: {reasons}")
    warn_failures(prof.failures)
    return prof


def _transform_identity(transform: Callable[..., Any]) -> str:
    """What identifies a transform in a checkpoint's key: a module's repr and state, or code."""
    from manifold._cache import Hasher
    from manifold.augment import callable_identity

    h = Hasher()
    if isinstance(transform, torch.nn.Module):
        return h.text("transform", repr(transform)).state_dict("transform", transform).hexdigest()
    return h.text("transform", callable_identity(transform)).hexdigest()
