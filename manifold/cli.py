"""The ``manifold`` command: ``profile``, ``cluster``, ``predict`` and ``demo``.

* ``profile``: one or more models (or ready embeddings) on a data set → a Profile table, the
  model × metric matrix, figures and an HTML report.
* ``cluster``: saved profiles → cluster labels, adjusted Rand index against a grouping,
  dendrogram and model map.
* ``predict``: saved profiles and a transfer table (model × task) → leave-one-model-out
  evaluation of transfer prediction and a figure of the held-out predictions.
* ``demo``: all of the above on the bundled zoo and bundled MNIST.

Errors are reported as one line naming the problem and the fix, with exit code 2; ``--verbose``
shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

__all__ = ["CLIError", "build_parser", "main"]

DATASETS = ("mnist", "factor-mnist", "digits", "faces", "photos")
DEFAULT_FAMILIES = "crop,color,rotation,flip,blur"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
PROFILE_SUFFIXES = (".csv", ".parquet")
#: Factor-zoo models of ``demo --quick``: both objectives on three recipes, and two controls.
QUICK_MODELS = ("simclr_none_s0", "vicreg_none_s0", "simclr_color_s0", "vicreg_color_s0",
                "simclr_crop_s0", "vicreg_crop_s0", "random_s0", "supervised_s0")  # fmt: skip
#: Methods of the factor zoo that are controls, not self-supervised models.
CONTROL_METHODS = ("random", "supervised")


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _note(message: str) -> None:
    """A user-facing remark (a capped or ignored request, a warning): one ``note:`` line."""
    lines = str(message).strip().splitlines()
    print(f"note: {lines[0] if lines else repr(message)}")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """warnings.showwarning for the command: one ``note:`` line, no source snippet."""
    _note(str(message))


class _Normalize:
    """``(x - mean) / std`` per channel: the ``--normalize`` transform (picklable, hashable)."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        self.mean, self.std = mean, std

    def __call__(self, x: Any) -> Any:
        shape = (1, -1, 1, 1)
        mean = x.new_tensor(self.mean).view(shape)
        return (x - mean) / x.new_tensor(self.std).view(shape)

    def __repr__(self) -> str:
        return f"normalize(mean={self.mean}, std={self.std})"


def _normalize(text: str) -> _Normalize:
    """Parse ``--normalize``: ``MEAN,STD`` for every channel, or ``M1,M2,M3,S1,S2,S3``."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (2, 6) or any(s <= 0 for s in values[len(values) // 2 :]):
        raise argparse.ArgumentTypeError(
            f"expected MEAN,STD (e.g. 0.5,0.5) or three means and three positive stds "
            f"(e.g. 0.485,0.456,0.406,0.229,0.224,0.225), got {text!r}"
        )
    half = len(values) // 2
    return _Normalize(values[:half], values[half:])


def _output_choice(text: str) -> int | str:
    """``--output``: an index (an integer) or a key of the model's tuple or dict output."""
    try:
        return int(text)
    except ValueError:
        return text


#: Files and folders a command writes into --out; an earlier run's copies are removed first.
_OUTPUTS = ("profile.csv", "profile.json", "profile.spectra.npz", "metrics_matrix.csv",
            "clusters.csv", "clusters.json",
            "transfer_evaluation.csv", "transfer_predictions.csv", "report.html",
            "figures")  # fmt: skip


def _fresh_out(out: Path) -> None:
    """Remove what an earlier run wrote into ``out`` (only the command's own files)."""
    import shutil

    stale = [out / name for name in _OUTPUTS if (out / name).exists()]
    if not stale:
        return
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    names = ", ".join(p.name for p in stale[:4]) + (" ..." if len(stale) > 4 else "")
    _note(f"removed {len(stale)} file(s) of an earlier run from {out} ({names})")


# -- inputs --------------------------------------------------------------------------------------
def _load_images(name: str, n_images: int | None, seed: int, channels: int | None = None):
    import torch

    from manifold import datasets

    path = Path(name).expanduser()
    loaders = {
        "mnist": lambda: datasets.load_mnist("test"),
        "digits": datasets.load_digits,
        "faces": datasets.load_faces,
        "photos": datasets.load_photos,
        "factor-mnist": lambda: datasets.load_factor_mnist("test"),
    }
    if path.is_dir():
        images = _read_folder(path, channels)
    elif name in loaders:
        images, _ = loaders[name]()
        if channels is not None and images.shape[1] != channels:
            images = _convert_channels(images, channels)
    elif path.exists():
        raise CLIError(f"--data {name} is a file; give a folder of images or one of {DATASETS}")
    elif "/" in name or "\\" in name or name.startswith("."):
        raise CLIError(f"data folder {name} does not exist; give a folder of images or a bundled "
                       f"data set ({', '.join(DATASETS)})")  # fmt: skip
    else:
        raise CLIError(
            f"unknown dataset {name!r}: use one of {', '.join(DATASETS)} or a folder of images"
        )
    if n_images is not None and n_images > len(images):
        _note(f"--n-images {n_images} asked for more images than {name} has; using all "
              f"{len(images)}")  # fmt: skip
    if n_images is not None and n_images < len(images):
        gen = torch.Generator().manual_seed(seed)
        images = images[torch.randperm(len(images), generator=gen)[:n_images].sort().values]
    return images


def _convert_channels(images: Any, channels: int):
    """Grey to RGB (repeat) or RGB to grey (ITU-R 601 luma, as PIL's convert("L"))."""
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = images.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def _read_folder(path: Path, channels: int | None = None):
    """Images of a folder and its subfolders (the ImageFolder layout: one folder per class).

    ``channels`` None keeps the images' mode: 1 channel when every image is grey, else RGB.
    """
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    files = sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise CLIError(f"no {'/'.join(IMAGE_SUFFIXES)} images in folder {path} or its "
                       "subfolders; add some or point --data at another folder")  # fmt: skip
    images = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                images.append(im.copy())
        except (OSError, UnidentifiedImageError) as err:
            raise CLIError(f"cannot read image {f} ({err}); remove it from the folder") from err
    if channels is None:
        channels = 1 if all(im.mode in ("L", "I", "I;16", "F", "1") for im in images) else 3
    mode = "L" if channels == 1 else "RGB"
    arrays = [np.asarray(im.convert(mode), dtype=np.float32) / 255.0 for im in images]
    arrays = [a[..., None] if a.ndim == 2 else a for a in arrays]
    shapes = sorted({a.shape[:2] for a in arrays})
    if len(shapes) != 1:
        raise CLIError(
            f"images in {path} have {len(shapes)} different sizes (e.g. {shapes[:3]}); resize "
            "them to one size first"
        )
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _load_model(spec: str, device: Any):
    from manifold.runner import load_model

    try:
        return load_model(spec, device=device)
    except ValueError as err:
        raise CLIError(str(err)) from err


def _load_embeddings(path: Path):
    """Semantic embeddings (N, D) and views per family (N, K, D), shapes checked."""
    import numpy as np
    import torch

    if not path.is_file():
        raise CLIError(f"embeddings file {path} does not exist; check the path")
    views: dict[str, Any] = {}
    try:
        if path.suffix == ".npy":
            z = np.load(path)
        elif path.suffix == ".npz":
            data = np.load(path)
            key = "z" if "z" in data else "semantic" if "semantic" in data else None
            if key is None:
                raise CLIError(f"{path} has arrays {data.files} but no 'z'; save the semantic "
                               "embeddings as z=... (and views as views_<family>=...)")  # fmt: skip
            z = data[key]
            views = {k[len("views_") :]: data[k] for k in data.files if k.startswith("views_")}
        elif path.suffix == ".pt":
            data = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(data, torch.Tensor):
                z = data
            elif isinstance(data, dict) and "z" in data:
                z = data["z"]
                views = dict(data.get("views", {}))
            else:
                raise CLIError(f"{path} must hold a tensor or a dict with 'z' (and 'views': "
                               "{family: (N, K, D)})")  # fmt: skip
        else:
            raise CLIError(f"embeddings must be .npy, .npz or .pt, got {path.name}")
    except (OSError, ValueError, RuntimeError, EOFError) as err:
        raise CLIError(f"cannot read embeddings from {path} ({type(err).__name__}: {err}); save "
                       "them with numpy.save / numpy.savez / torch.save") from err  # fmt: skip
    if len(z.shape) != 2:
        raise CLIError(f"{path}: z has shape {tuple(z.shape)}; expected (N, D) semantic embeddings")
    n, d = z.shape
    for fam, v in views.items():
        if len(v.shape) != 3 or v.shape[0] != n or v.shape[2] != d:
            raise CLIError(
                f"{path}: views for {fam!r} have shape {tuple(v.shape)} but z is ({n}, {d}); "
                f"views must be (N, K, D) = ({n}, K, {d}), one row per row of z"
            )
    return z, views


def _families(text: str) -> list[str]:
    from manifold.augment import FAMILIES

    fams = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in fams if f not in FAMILIES]
    if unknown:
        raise CLIError(f"unknown augmentation family {unknown[0]!r}; use a comma-separated list "
                       f"of: {', '.join(FAMILIES)}")  # fmt: skip
    return fams


def _profile_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            found = sorted(
                f for f in path.rglob("*") if f.suffix in PROFILE_SUFFIXES and _is_profile(f)
            )
            if not found:
                raise CLIError(f"no profile tables (.csv/.parquet written by `manifold profile`) "
                               f"under {path}")  # fmt: skip
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise CLIError(f"profile {path} does not exist; give profile.csv files or folders "
                           "written by `manifold profile`")  # fmt: skip
    return list(dict.fromkeys(files))


def _is_profile(path: Path) -> bool:
    from manifold.profiling import COLUMNS

    if path.suffix == ".csv":
        with open(path, encoding="utf-8", errors="replace") as fh:
            header = fh.readline().strip().split(",")
        return all(c in header for c in COLUMNS)
    try:
        import pyarrow.parquet as pq

        return all(c in pq.read_schema(path).names for c in COLUMNS)
    except Exception:  # noqa: BLE001 - an unreadable parquet file is simply not a profile
        return False


def _load_profiles(paths: list[str]):
    from manifold.profiling import Profile

    profiles = []
    for f in _profile_files(paths):
        try:
            profiles.append(Profile.load(f))
        except (ValueError, OSError) as err:
            raise CLIError(f"cannot read profile {f} ({err}); give files written by "
                           "`manifold profile`") from err  # fmt: skip
    try:
        return Profile.concat(profiles)
    except ValueError as err:
        raise CLIError(f"{err} (each model must appear in one profile file only)") from err


def _read_groups(path: str):
    import pandas as pd

    file = Path(path).expanduser()
    if not file.is_file():
        raise CLIError(f"groups file {file} does not exist; give a CSV with columns model,group")
    table = pd.read_csv(file, dtype=str)
    if table.shape[1] < 2:
        raise CLIError(f"{file} needs two columns (model, group); found {list(table.columns)}")
    return pd.Series(table.iloc[:, 1].to_numpy(), index=table.iloc[:, 0].to_numpy(), name="group")


def _read_transfer(path: str | None, models: list[str] | None = None):
    import pandas as pd

    if path is None:
        from manifold.datasets import ZOOS, load_transfer

        # the shipped zoo whose table names most of the profiled models
        tables = [load_transfer(zoo) for zoo in ZOOS]
        wanted = set(models or ())
        return max(tables, key=lambda t: len(wanted & set(t.index.map(str))))
    file = Path(path).expanduser()
    if not file.is_file():
        raise CLIError(f"transfer table {file} does not exist; give a CSV with a model column "
                       "and one column per task")  # fmt: skip
    table = pd.read_csv(file)
    if table.shape[1] < 2:
        raise CLIError(f"{file} needs a model column and at least one task column")
    return table.set_index(table.columns[0])


# -- steps ----------------------------------------------------------------------------------------
def _run_cluster(prof: Any, groups: Any, args: argparse.Namespace):
    from manifold.zoo import cluster_models

    models = prof.models
    if len(models) < 3:
        raise CLIError(f"clustering needs at least 3 models, the profiles hold {len(models)} "
                       f"({models}); profile more models")  # fmt: skip
    if groups is not None:
        missing = [m for m in models if m not in groups.index]
        if missing:
            raise CLIError(f"the groups file has no group for models {missing}; add a row "
                           "model,group for each")  # fmt: skip
        groups = groups.loc[models]
    return cluster_models(
        prof,
        groups=groups,
        method=getattr(args, "method", "average"),
        distance=getattr(args, "distance", "euclidean"),
        n_clusters=getattr(args, "n_clusters", None),
    )


def _run_predict(
    prof: Any,
    scores: Any,
    n_permutations: int,
    seed: int,
    max_features: Any,
    controls=None,
    bundled: bool = False,
):
    import warnings

    from manifold.zoo import TransferPredictor
    from manifold.zoo.transfer import MIN_MODELS

    scores = scores.copy()
    scores.index = scores.index.map(str)
    common = [m for m in prof.models if m in scores.index]
    if len(common) < MIN_MODELS and bundled:
        raise CLIError(
            f"transfer prediction needs downstream scores for your models: pass --transfer "
            f"scores.csv with a first column 'model' holding the names in your profiles "
            f"({', '.join(prof.models[:3])}{', ...' if len(prof.models) > 3 else ''}) and one "
            f"column per task (e.g. linear-probe accuracy), for at least {MIN_MODELS} models; "
            "without --transfer only the bundled zoo's models have scores"
        )
    if len(common) < MIN_MODELS:
        raise CLIError(
            f"transfer prediction needs at least {MIN_MODELS} models with both a profile and "
            f"scores; found {len(common)} ({common}). Profile models named like the transfer "
            f"table's rows ({list(scores.index)[:6]}...)"
        )
    mismatch = prof.mismatched_settings()
    if mismatch:
        from manifold.results import describe_mismatch

        _note("the profiles were computed with different settings, so their metrics are not "
              f"directly comparable: {describe_mismatch(mismatch)}")  # fmt: skip
    matrix = prof.to_matrix().loc[common]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # baseline notes are kept in .notes
        evaluation = TransferPredictor(max_features=max_features).evaluate(
            matrix,
            scores.loc[common],
            n_permutations=n_permutations,
            seed=seed,
            controls=[c for c in controls or () if c in common] or None,
        )
    skipped = [m for m in prof.models if m not in scores.index]
    if skipped:
        evaluation.notes.append(f"models without transfer scores, left out: {skipped}")
    return evaluation


def _write_cluster_tables(result: Any, out: Path) -> list[str]:
    import json

    labels = result.labels.to_frame()
    if result.groups is not None:
        labels["group"] = result.groups
    labels = labels.join(result.embedding_2d)
    labels.index.name = "model"
    labels.to_csv(out / "clusters.csv")
    summary = {
        "n_models": len(result.models),
        "n_clusters": result.n_clusters,
        "n_clusters_rule": result.n_clusters_rule,
        "adjusted_rand_index": result.adjusted_rand_index,
        "method": result.method,
        "distance": result.distance,
        "metrics_used": list(result.matrix.columns),
        "metrics_dropped": result.dropped,
    }
    (out / "clusters.json").write_text(json.dumps(summary, indent=2))
    return ["clusters.csv", "clusters.json"]


def _write_transfer_tables(evaluation: Any, out: Path) -> list[str]:
    evaluation.table.to_csv(out / "transfer_evaluation.csv")
    evaluation.predictions.to_csv(out / "transfer_predictions.csv", index=False)
    return ["transfer_evaluation.csv", "transfer_predictions.csv"]


def _write_profile_tables(prof: Any, out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    prof.save(out / "profile.csv")
    # a layer sweep: one row per (model, layer)
    prof.to_matrix(by="layer" if prof.layers else "model").to_csv(out / "metrics_matrix.csv")
    spectra = ["profile.spectra.npz"] if prof.spectra else []
    return ["profile.csv", "profile.json", *spectra, "metrics_matrix.csv"]


def _report(prof: Any, out: Path, files: list[str], **kwargs: Any) -> Path:
    from manifold.report import write_report

    return write_report(prof, out / "report.html", files=files, figure_dir=out / "figures",
                        **kwargs)  # fmt: skip


# -- commands -------------------------------------------------------------------------------------
def cmd_profile(args: argparse.Namespace) -> int:
    """``manifold profile``: profile models (or embeddings) and write tables and a report."""
    from manifold.profiling import Profile, profile

    out = Path(args.out)
    profiles = []
    if getattr(args, "layer", None) and getattr(args, "layers", None):
        raise CLIError(f"give --layer (one submodule: {args.layer!r}) or --layers (a sweep: "
                       f"{args.layers!r}), not both")  # fmt: skip
    if args.embeddings:
        if args.model:
            raise CLIError("give either --model or --embeddings, not both")
        if args.layers:
            raise CLIError("--layers needs --model: embeddings have no layers")
        z, views = _load_embeddings(Path(args.embeddings))
        ignored = [f"--{name.replace('_', '-')}" for name in _MODEL_OPTIONS
                   if getattr(args, name, None) not in (None, False)]  # fmt: skip
        if args.data != DEFAULT_DATA:
            ignored.append("--data")
        if ignored:
            _note(f"{', '.join(ignored)} apply to a model and are ignored with --embeddings")
        if args.n_views is not None and views:
            _note(f"--n-views is ignored with --embeddings: the file's views have K = "
                  f"{sorted({v.shape[1] for v in views.values()})}")  # fmt: skip
        _fresh_out(out)
        fams = _families(args.families) if args.families else list(views)
        missing = [f for f in fams if f not in views]
        if missing and args.families:
            raise CLIError(f"{args.embeddings} has no views for {missing}; it has "
                           f"{sorted(views) or 'none'} (arrays named views_<family>)")  # fmt: skip
        name = args.name[0] if args.name else Path(args.embeddings).stem
        profiles.append(profile(z, views={f: views[f] for f in fams}, families=fams or None,
                                k=args.k, seed=args.seed, name=name, curvature=args.curvature,
                                n_bootstrap=getattr(args, "bootstrap", 0),
                                progress=False if args.quiet else None))  # fmt: skip
    else:
        if not args.model:
            raise CLIError("give --model (zoo:<name>, efficientnet-lite0, model.pt, "
                           "module.py:factory) or --embeddings file")  # fmt: skip
        names = args.name or []
        if names and len(names) != len(args.model):
            raise CLIError(f"got {len(args.model)} --model but {len(names)} --name; give one "
                           "name per model or none")  # fmt: skip
        fams = _families(args.families or DEFAULT_FAMILIES)
        # every model is loaded before the images, so that a bad model fails fast
        models = {(names[i] if names else _default_name(spec)): _load_model(spec, args.device)
                  for i, spec in enumerate(args.model)}  # fmt: skip
        if len(models) != len(args.model):
            raise CLIError("two models have the same name; give distinct --name values")
        n_images = DEFAULT_N_IMAGES if args.n_images is None else args.n_images
        images = _load_images(args.data, n_images, args.seed, args.channels)
        _fresh_out(out)
        for name, model in models.items():
            try:
                prof = _profile_model(model, images, fams, name, args)
            except CLIError:
                if profiles:
                    _write_profile_tables(Profile.concat(profiles), out)
                    print(f"kept the {len(profiles)} finished model(s) in {out / 'profile.csv'}")
                raise
            profiles.append(prof)
            if len(args.model) > 1:  # never lose finished models to a later failure
                _write_profile_tables(Profile.concat(profiles), out)
    prof = Profile.concat(profiles)
    command = _command_line(args)
    for settings in prof.settings.values():
        settings["command"] = command
    files = _write_profile_tables(prof, out)
    title = f"manifold profile: {', '.join(prof.models[:4])}" + (
        " ..." if len(prof.models) > 4 else ""
    )
    # the eigenspectra are those the engine read the spectral metrics from (prof.spectra)
    report = _report(prof, out, files, title=title)
    print(f"wrote {out / 'profile.csv'}, {out / 'metrics_matrix.csv'} and {report}")
    return 0


#: profile options that apply to a model only (ignored, with a note, with --embeddings).
_MODEL_OPTIONS = ("device", "layer", "normalize", "output", "channels", "n_images")
DEFAULT_DATA = "mnist"
DEFAULT_N_IMAGES = 500


def _default_name(spec: str) -> str:
    """A model's name in the table without --name: the zoo name, or the file's stem."""
    if spec.startswith("zoo:"):
        return spec.removeprefix("zoo:")
    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        return Path(spec.rsplit(":", 1)[0]).stem
    path = Path(spec)
    return path.stem if path.suffix in (".pt", ".pth", ".ts", ".jit") else spec


def _command_line(args: argparse.Namespace | None = None) -> str:
    """The command as the user gave it (the arguments ``main`` parsed)."""
    import shlex

    argv = getattr(args, "argv", None)
    argv = sys.argv[1:] if argv is None else argv
    return " ".join(["manifold", *map(shlex.quote, argv)])


def _profile_model(model: Any, images: Any, fams: list[str], name: str, args: argparse.Namespace):
    """Profile one model; a model that does not take these images is a one-line error.

    The profile carries the spectrum of the model's output (or ``--layer``) for the
    eigenspectrum figure; a layer sweep (``--layers``) has none: its figures are the metrics
    against depth.
    """
    from manifold.embed import Embedder
    from manifold.profiling import DEFAULT_N_VIEWS, profile

    shape = tuple(images.shape)
    options = {
        "layer": getattr(args, "layer", None),
        "transform": getattr(args, "normalize", None),
        "batch_size": getattr(args, "batch_size", None) or 256,
        "output": getattr(args, "output", None),
    }
    layers = _layer_names(getattr(args, "layers", None))
    # a sweep is probed as it runs: every layer, each read by the --output rule
    probe = options if layers is None else {**options, "layer": None, "layers": layers}
    try:
        embedder = Embedder(model, device=args.device, progress=False, **probe)
    except ValueError as err:  # an unknown --layer or --layers name: the message lists them
        raise CLIError(f"model {name!r}: {err}") from err
    try:
        with warnings.catch_warnings():
            # a probe: the profile below says the same (e.g. which output element), once
            warnings.simplefilter("ignore", UserWarning)
            z = embedder.embed(images[:2])
    except (RuntimeError, ValueError, TypeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        if layers is not None and "layer" in first:  # e.g. --output against a swept layer
            raise CLIError(f"model {name!r}: {first}") from err
        raise CLIError(
            f"model {name!r} cannot embed images of shape {shape[1:]} (C, H, W) ({first}); pick "
            f"--data that matches the model's input (bundled: {', '.join(DATASETS)})"
        ) from err
    for where, out in z.items() if layers is not None else [(None, z)]:
        if out.ndim != 2:
            what = f"layer {where!r} of model {name!r}" if where is not None else f"model {name!r}"
            raise CLIError(f"{what} returns outputs of shape {tuple(out.shape)}; expected "
                           "(N, D) embeddings (pool or flatten in the model)")  # fmt: skip
    n_views = args.n_views or DEFAULT_N_VIEWS
    return profile(model, images, families=fams, n_views=n_views, k=args.k, seed=args.seed,
                   name=name, device=args.device, progress=False if args.quiet else None,
                   curvature=getattr(args, "curvature", False), layers=layers,
                   n_bootstrap=getattr(args, "bootstrap", 0), **options)  # fmt: skip


def _layer_names(text: str | None) -> list[str] | None:
    """The entries of ``--layers`` (comma-separated names, patterns or ``all``)."""
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise CLIError("--layers is empty; give comma-separated submodule names, a pattern such "
                       "as 'features.*', or 'all'")  # fmt: skip
    return names


def cmd_cluster(args: argparse.Namespace) -> int:
    """``manifold cluster``: cluster saved profiles; labels, ARI, dendrogram and map."""
    prof = _load_profiles(args.profiles)
    groups = _read_groups(args.groups) if args.groups else None
    result = _run_cluster(prof, groups, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _fresh_out(out)
    files = _write_cluster_tables(result, out)
    report = _report(prof, out, files, clusters=result, title="manifold cluster")
    ari = result.adjusted_rand_index
    if ari is None:
        agreement = ""
    elif ari != ari:  # NaN: a degenerate grouping
        n_groups = result.groups.nunique()
        agreement = (f", agreement with the groups undefined ({n_groups} group(s) for "
                     f"{len(result.models)} models: any clustering matches it)")  # fmt: skip
    else:
        p = result.ari_p_value
        agreement = f", ARI vs groups = {ari:.3f}" + (f" (p = {p:.3f})" if p == p else "")
    print(
        f"{len(result.models)} models in {result.n_clusters} clusters ({result.n_clusters_rule})"
        + agreement
        + f"; wrote {out / 'clusters.csv'}, {out / 'figures'} and {report}"
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``manifold predict``: leave-one-model-out transfer prediction from saved profiles."""
    scores = None if args.transfer is None else _read_transfer(args.transfer)
    prof = _load_profiles(args.profiles)
    if scores is None:
        scores = _read_transfer(None, prof.models)
    evaluation = _run_predict(prof, scores, args.permutations, args.seed, args.max_features,
                              bundled=args.transfer is None)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _fresh_out(out)
    files = _write_transfer_tables(evaluation, out)
    report = _report(prof, out, files, transfer=evaluation, title="manifold predict",
                     notes=evaluation.notes)  # fmt: skip
    columns = ["spearman", "kendall", "p_value", "r2", "null_r2"]
    print(evaluation.table[columns].round(3).to_string())
    n_models = int(evaluation.table["n_models"].max())
    print(f"R² is over {n_models} models, leave one model out: with so few it is noisy and "
          "often negative; read it against null_r2 (the intercept-only R², itself < 0) and "
          "rank it below Spearman and its p-value")  # fmt: skip
    for note in evaluation.notes:
        if not note.startswith("R² over"):
            _note(note)
    print(f"wrote {out / 'transfer_evaluation.csv'}, {out / 'figures'} and {report}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``manifold compare``: every pairwise similarity of models or embeddings on the same images.

    Writes ``similarity_matrix.csv`` (model × model), ``similarity_pairs.csv`` (one row per
    pair, with the permutation calibration) and ``similarity.png`` (heat map in dendrogram
    order) into ``--out``.
    """
    from manifold.zoo import similarity_matrix

    given = [flag for flag, value in (("--model", args.model), ("--embeddings", args.embeddings),
                                      ("--zoo", args.zoo)) if value]  # fmt: skip
    if len(given) != 1:
        got = f"; got {' and '.join(given)}" if given else ""
        raise CLIError("give two or more --model, two or more --embeddings files, or --zoo "
                       f"(one of them){got}")  # fmt: skip
    names = args.name or []
    specs = args.model or args.embeddings or []
    if names and (args.zoo or len(names) != len(specs)):
        raise CLIError(f"give one --name per --model or --embeddings ({len(specs)}), got "
                       f"{len(names)}")  # fmt: skip
    groups = None
    if args.zoo:
        from manifold.datasets import load_zoo

        entries, manifest = load_zoo(device=args.device, zoo=args.zoo)
        groups = manifest["method"].astype(str)
        data = args.data or ("factor-mnist" if args.zoo == "factor" else "mnist")
    elif args.model:
        # every model is loaded before the images, so that a bad model fails fast
        entries = {(names[i] if names else _default_name(spec)): _load_model(spec, args.device)
                   for i, spec in enumerate(specs)}  # fmt: skip
        data = args.data or DEFAULT_DATA
    else:
        entries = {(names[i] if names else Path(f).stem): _load_embeddings(Path(f))[0]
                   for i, f in enumerate(specs)}  # fmt: skip
        if args.data is not None:
            _note("--data is ignored with --embeddings (they are the images' embeddings)")
    if len(entries) != len(specs) and not args.zoo:
        raise CLIError("two inputs have the same name; give distinct --name values")
    if len(entries) < 2:
        raise CLIError(f"comparing needs at least two models or embeddings files, got "
                       f"{len(entries)}; repeat --model or --embeddings")  # fmt: skip
    images = None
    if not args.embeddings:
        n_images = DEFAULT_N_IMAGES if args.n_images is None else args.n_images
        images = _load_images(data, n_images, args.seed)
    result = similarity_matrix(entries, images, measure=args.measure, debiased=not args.classic,
                               k=args.k, metric=args.metric, n_permutations=args.permutations,
                               seed=args.seed, layer=args.layer, device=args.device,
                               batch_size=args.batch_size,
                               progress=False if args.quiet else None)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.matrix.to_csv(out / "similarity_matrix.csv")
    result.table.to_csv(out / "similarity_pairs.csv", index=False)
    import matplotlib.pyplot as plt

    fig = result.plot(groups=groups)
    fig.savefig(out / "similarity.png", dpi=110)
    plt.close(fig)
    what = {"cka": "debiased CKA" if not args.classic else "classic CKA",
            "mutual_knn": f"mutual kNN (k = {args.k}, {args.metric})",
            "procrustes": "Procrustes similarity"}[args.measure]  # fmt: skip
    print(f"{what} of {len(result.models)} models on {result.n} images")
    shown = result.table.sort_values("value", ascending=False, na_position="last")
    for row in shown.head(10).itertuples(index=False):
        line = f"  {row.model_a} ~ {row.model_b}: {row.value:.3f}"
        if args.permutations:
            line += (f" (null {row.null_mean:.3f} ± {row.null_sd:.3f}, calibrated "
                     f"{row.calibrated:.3f}, p = {row.p_value:.3f})")  # fmt: skip
        print(line)
    if len(shown) > 10:
        print(f"  ... {len(shown) - 10} more pairs in {out / 'similarity_pairs.csv'}")
    print(f"wrote {out / 'similarity_matrix.csv'}, {out / 'similarity_pairs.csv'} and "
          f"{out / 'similarity.png'}")  # fmt: skip
    return 0


def _demo_models(manifest: Any, quick: bool) -> list[str]:
    """The demo's subsample of the factor zoo.

    Seed 0 of every recipe and objective and the seed-0 controls (``--quick``:
    :data:`QUICK_MODELS`).
    """
    if quick:
        return [n for n in QUICK_MODELS if n in manifest.index]
    ssl = manifest[~manifest["method"].isin(CONTROL_METHODS)]
    keep = ssl[(ssl["seed"] == 0) & (ssl["temperature"].fillna(0.5) == 0.5)].index.tolist()
    controls = manifest[manifest["method"].isin(CONTROL_METHODS) & (manifest["seed"] == 0)]
    return keep + controls.index.tolist()


def cmd_demo(args: argparse.Namespace) -> int:
    """``manifold demo``: profile, cluster and predict on the bundled factor zoo; write a report."""
    from manifold.datasets import load_factor_mnist, load_transfer, load_zoo
    from manifold.profiling import Profile

    started = time.time()
    n_images = args.n_images or (120 if args.quick else 300)
    n_views = args.n_views or (4 if args.quick else 8)
    fams = _families(args.families or ("crop,rotation,color" if args.quick else DEFAULT_FAMILIES))
    images, _ = load_factor_mnist("test", n=n_images, seed=args.seed)
    zoo, manifest = load_zoo(device=args.device)
    names = _demo_models(manifest, args.quick)
    models: dict[str, Any] = {n: zoo[n] for n in names}
    controls = [n for n in names if manifest.loc[n, "method"] in CONTROL_METHODS]
    print(
        f"manifold demo: {len(models)} of the factor zoo's {len(zoo)} models (seed 0 of each "
        f"recipe and objective, {len(controls)} controls), {len(fams)} families, {n_images} of "
        f"1000 factor-MNIST test images, {n_views} views each, k={args.k}"
    )
    args.n_views = n_views
    out = Path(args.out)
    _fresh_out(out)
    # one job per model through the engine, each part checkpointed as it finishes: an
    # interrupted demo resumes where it stopped, and a failing model is reported while the
    # others finish
    from manifold.runner import profile_zoo

    checkpoints = out / "checkpoints"
    try:
        prof = profile_zoo(models, images, families=fams, n_views=n_views, k=args.k,
                           seed=args.seed, checkpoint_dir=checkpoints, device=args.device,
                           progress=False if args.quiet else None)  # fmt: skip
    except RuntimeError as err:  # every model failed
        raise CLIError(f"{err}; rerun with --verbose to see why") from err
    for failure in prof.failures:
        if failure.get("metric") == "model":
            print(f"  {failure['model']}: failed ({failure['error']})")
    files = _write_profile_tables(prof, out)
    profiled = prof.models
    ssl = [m for m in profiled if m not in controls]

    clusters = evaluation = None
    groupings = {}
    if len(ssl) >= 3:
        ssl_prof = Profile(prof.table[prof.table["model"].isin(ssl)], prof.settings, [])
        for key in ("method", "recipe"):
            groupings[key] = manifest.loc[ssl, key].astype(str)
        clusters = _run_cluster(ssl_prof, None, args)
        files += _write_cluster_tables(clusters, out)
        for key, groups in groupings.items():
            stats = clusters.agreement(groups, n_permutations=999, seed=args.seed)
            print(f"  clusters vs {key}: ARI {stats['ari']:.2f} (p = {stats['ari_p_value']:.3f}),"
                  f" NMI {stats['nmi']:.2f} (p = {stats['nmi_p_value']:.3f})")  # fmt: skip
    try:
        evaluation = _run_predict(prof, load_transfer(), args.permutations, args.seed, None,
                                  controls=controls)  # fmt: skip
    except CLIError as err:
        print(f"  transfer prediction skipped: {err}")
    else:
        files += _write_transfer_tables(evaluation, out)
        print(f"  transfer, {len(ssl)} self-supervised models (controls apart), Spearman [95 % CI]"
              ", regret in accuracy points:")  # fmt: skip
        for task in evaluation.table.index:
            print("    " + evaluation.headline(task))
    notes = [
        f"{len(profiled)} models of the factor zoo, {n_images} factor-MNIST test images, "
        f"{n_views} views per image and family ({', '.join(fams)}), k = {args.k}, "
        f"seed = {args.seed}; {time.time() - started:.0f} s on {args.device or 'cpu'}; "
        f"per-model checkpoints in {checkpoints} (a rerun resumes from them).",
    ]
    if evaluation is not None:
        notes.extend(evaluation.notes)
    scores = load_transfer().loc[ssl] if evaluation is not None else None
    # the eigenspectra are those the jobs read the spectral metrics from (prof.spectra)
    report = _report(prof, out, files, clusters=clusters, transfer=evaluation,
                     groupings=groupings, scores=scores,
                     title="manifold demo: the bundled factor zoo", notes=notes)  # fmt: skip
    print(f"wrote {len(files)} tables, {out / 'figures'} and {report} "
          f"({time.time() - started:.0f} s)")  # fmt: skip
    return 0


def _groups_series(groups: dict[str, str], models: list[str]):
    """The grouping of ``models`` as a pandas Series (models without a group are dropped)."""
    import pandas as pd

    return pd.Series({m: groups[m] for m in models if m in groups}, name="group")


# -- parser ---------------------------------------------------------------------------------------
class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows every default: appended unless the text already states it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        quiet = action.default is None or action.default is False
        if "default" in text or quiet or action.default == argparse.SUPPRESS:
            return text
        return text + " (default: %(default)s)"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_common(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: given after the subcommand it sets the flag, absent it keeps the top-level value
    p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks on errors")  # fmt: skip


def _add_sizes(p: argparse.ArgumentParser, n_images: str, n_views: str) -> None:
    """Size options; ``n_images``/``n_views`` describe the defaults (the values stay None)."""
    p.add_argument(
        "--families",
        default=None,
        help=f"comma-separated augmentation families (default: {DEFAULT_FAMILIES})",
    )
    p.add_argument("--n-images", type=_positive_int, default=None,
                   help=f"images (N) (default: {n_images})")  # fmt: skip
    p.add_argument("--n-views", type=_positive_int, default=None,
                   help=f"views per image and family (K) (default: {n_views})")  # fmt: skip
    p.add_argument("--k", type=_positive_int, default=10, help="neighbours per node (k)")
    p.add_argument("--seed", type=int, default=0, help="seed of the views and subsamples")
    p.add_argument("--device", default=None,
                   help="auto, cpu, cuda, cuda:<index> or mps (default: the model's "
                   "device)")  # fmt: skip
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (they show only on a terminal anyway)")  # fmt: skip


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """Own-model and own-image options of ``profile`` (Python's Embedder/profile arguments)."""
    p.add_argument("--channels", type=int, choices=(1, 3), default=None,
                   help="read images as 1 (grey) or 3 (RGB) channels (default: 1 when every "
                   "image in the folder is grey, else 3)")  # fmt: skip
    p.add_argument("--layer", default=None,
                   help="submodule whose output is the representation, e.g. 'blocks.3' "
                   "(default: the model's output); not with --layers")  # fmt: skip
    p.add_argument("--layers", default=None, metavar="NAMES|PATTERN|all",
                   help="a layer sweep: profile these submodules of each model from one forward "
                   "pass per batch: comma-separated names, a pattern such as 'features.*', or "
                   "'all'; not with --layer")  # fmt: skip
    p.add_argument("--output", type=_output_choice, default=None,
                   help="when the model returns a tuple or dict: the index or key of the "
                   "representation (default: the first, with a note)")  # fmt: skip
    p.add_argument("--normalize", type=_normalize, default=None, metavar="MEAN,STD",
                   help="normalise images before the model: MEAN,STD for all channels or "
                   "M1,M2,M3,S1,S2,S3 (default: none; images are in [0, 1])")  # fmt: skip
    p.add_argument("--batch-size", type=_positive_int, default=256,
                   help="images per forward pass")  # fmt: skip
    p.add_argument("--curvature", action="store_true",
                   help="also compute Ollivier- and Forman-Ricci curvature (slower)")  # fmt: skip
    p.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="bootstrap resamples of the images for standard errors (rows with "
                   "statistic 'se'; 0: none, else at least 2)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``manifold`` command."""
    from manifold import __version__

    parser = argparse.ArgumentParser(
        prog="manifold",
        description="Label-free geometry of learned representations.",
        formatter_class=_DefaultsFormatter,
    )
    parser.add_argument("--verbose", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"manifold {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = {"formatter_class": _DefaultsFormatter}

    prof = sub.add_parser(
        "profile",
        help="profile models (or ready embeddings) on a data set",
        **fmt,
        description="Profile one or more models, or ready embeddings, and "
        "write profile.csv, metrics_matrix.csv, figures and report.html.",
    )
    prof.add_argument(
        "--model",
        action="append",
        help="zoo:<name>, efficientnet-lite0, model.pt (TorchScript) or "
        "module.py:factory; repeat for several models",
    )
    prof.add_argument(
        "--embeddings", help=".npy (z), .npz (z, views_<family>) or .pt (tensor or {z, views})"
    )
    prof.add_argument(
        "--data",
        default=DEFAULT_DATA,
        help=f"{', '.join(DATASETS)}, or a folder of images (.png/.jpg/.bmp, read recursively: "
        "class subfolders are fine)",
    )
    from manifold.profiling import DEFAULT_N_VIEWS

    _add_sizes(prof, str(DEFAULT_N_IMAGES), str(DEFAULT_N_VIEWS))
    _add_model_options(prof)
    prof.add_argument("--name", action="append", help="model name in the table (one per model)")
    prof.add_argument("--out", default="manifold-profile", help="output folder")
    _add_common(prof)
    prof.set_defaults(func=cmd_profile)

    clus = sub.add_parser(
        "cluster",
        help="cluster saved profiles by geometry",
        **fmt,
        description="Cluster models by their z-scored metrics; write "
        "clusters.csv, clusters.json, a dendrogram, a model map and a report.",
    )
    clus.add_argument("profiles", nargs="+", help="profile.csv/.parquet files or folders")
    clus.add_argument("--groups", help="CSV with columns model,group: adds the adjusted Rand index")
    clus.add_argument(
        "--method", default="average", help="linkage: average, complete, single, ward, weighted"
    )
    clus.add_argument(
        "--distance",
        default="euclidean",
        help="euclidean, cityblock, cosine, correlation, chebyshev",
    )
    clus.add_argument(
        "--n-clusters",
        type=_positive_int,
        default=None,
        help="clusters at the cut (default: number of groups, else largest gap)",
    )
    clus.add_argument("--out", default="manifold-cluster", help="output folder")
    _add_common(clus)
    clus.set_defaults(func=cmd_cluster)

    pred = sub.add_parser(
        "predict",
        help="predict transfer from saved profiles",
        **fmt,
        description="Leave-one-model-out transfer prediction: write "
        "transfer_evaluation.csv, transfer_predictions.csv, a figure and a "
        "report.",
    )
    pred.add_argument("profiles", nargs="+", help="profile.csv/.parquet files or folders")
    pred.add_argument(
        "--transfer",
        default=None,
        help="CSV: a first column 'model' (the names in your profiles) and one column per "
        "task with a downstream score, e.g. linear-probe accuracy (default: the bundled zoo's "
        "table, which scores only the zoo's models)",
    )
    pred.add_argument(
        "--permutations", type=int, default=100, help="permutations for the p-values (0: none)"
    )
    pred.add_argument(
        "--max-features",
        type=_positive_int,
        default=None,
        help="keep at most this many metrics per task (screened in each fold)",
    )
    pred.add_argument("--seed", type=int, default=0, help="seed of the permutations")
    pred.add_argument("--out", default="manifold-predict", help="output folder")
    _add_common(pred)
    pred.set_defaults(func=cmd_predict)

    comp = sub.add_parser(
        "compare",
        help="similarity of models (or embeddings) on the same images",
        **fmt,
        description="Compare every pair of models, embeddings files or the bundled zoo on the "
        "same images (debiased linear CKA, mutual kNN or Procrustes, optionally calibrated by "
        "permutation); write similarity_matrix.csv, similarity_pairs.csv and similarity.png.",
    )
    comp.add_argument("--model", action="append",
                      help="zoo:<name>, efficientnet-lite0, model.pt (TorchScript) or "
                      "module.py:factory; repeat for each model")  # fmt: skip
    comp.add_argument("--embeddings", action="append",
                      help=".npy (N, D), .npz (z) or .pt file of one model's embeddings of the "
                      "same images in the same order; repeat for each model")  # fmt: skip
    comp.add_argument("--zoo", choices=("factor", "mnist"), default=None,
                      help="every model of a bundled zoo")  # fmt: skip
    comp.add_argument("--name", action="append", help="name of each --model or --embeddings")
    comp.add_argument("--data", default=None,
                      help=f"{', '.join(DATASETS)}, or a folder of images (default: "
                      f"{DEFAULT_DATA}; factor-mnist for --zoo factor)")  # fmt: skip
    comp.add_argument("--n-images", type=_positive_int, default=None,
                      help=f"images (N) (default: {DEFAULT_N_IMAGES})")  # fmt: skip
    comp.add_argument("--measure", choices=("cka", "mutual_knn", "procrustes"), default="cka",
                      help="similarity measure")  # fmt: skip
    comp.add_argument("--classic", action="store_true",
                      help="classic (biased) linear CKA instead of the debiased one")  # fmt: skip
    comp.add_argument("--k", type=_positive_int, default=10, help="mutual_knn: neighbours")
    comp.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine",
                      help="mutual_knn: neighbour distance")  # fmt: skip
    comp.add_argument("--permutations", type=int, default=0,
                      help="row shuffles per pair: calibrated score and p-value")  # fmt: skip
    comp.add_argument("--seed", type=int, default=0, help="seed of the images and shuffles")
    comp.add_argument("--layer", default=None,
                      help="submodule whose output is the representation (default: the "
                      "model's output)")  # fmt: skip
    comp.add_argument("--batch-size", type=_positive_int, default=256,
                      help="images per forward pass")  # fmt: skip
    comp.add_argument("--device", default=None,
                      help="auto, cpu, cuda, cuda:<index> or mps (default: the model's "
                      "device)")  # fmt: skip
    comp.add_argument("--quiet", action="store_true", help="no progress bars")
    comp.add_argument("--out", default="manifold-compare", help="output folder")
    _add_common(comp)
    comp.set_defaults(func=cmd_compare)

    demo = sub.add_parser(
        "demo",
        help="profile, cluster and predict on the bundled factor zoo",
        **fmt,
        description="Profile the bundled factor zoo (seed 0 of every augmentation recipe and "
        "objective, plus an untrained and a supervised control) on factor-controlled MNIST, "
        "cluster the models, predict each factor task's probe accuracy, write a report.",
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="8 zoo models, 120 images, 4 views, 3 families (under a minute)",
    )
    demo.add_argument(
        "--permutations", type=int, default=50, help="permutations for the transfer p-values"
    )
    _add_sizes(demo, "300 (--quick: 120)", "8 (--quick: 4)")
    demo.add_argument("--out", default="manifold-report", help="output folder")
    _add_common(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def _one_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    lines = text.splitlines()
    return lines[0] + (" ..." if len(lines) > 1 else "")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``manifold`` command; returns the exit code.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 2 on a user error (one line on stderr), 130 when interrupted.
    """
    import warnings

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        with warnings.catch_warnings():
            # warnings reach the user as single note: lines, each distinct one once
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return args.func(args)
    except KeyboardInterrupt:
        print("manifold: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, TypeError, ImportError, OSError, RuntimeError, KeyError) as err:
        if args.verbose:
            raise
        print(f"manifold {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
