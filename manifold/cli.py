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
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

__all__ = ["CLIError", "PartFailed", "build_parser", "main"]

DATASETS = ("mnist", "factor-mnist", "digits", "faces", "photos")
DEFAULT_FAMILIES = "crop,color,rotation,flip,blur"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
PROFILE_SUFFIXES = (".csv", ".parquet")
#: Suffixes of model files (TorchScript, torch.export archives, torch.save files).
MODEL_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".pt2")
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


#: Files and folders a command writes into --out; a run replaces an earlier run's copies.
_OUTPUTS = ("profile.csv", "profile.json", "profile.spectra.npz", "metrics_matrix.csv",
            "clusters.csv", "clusters.json",
            "transfer_evaluation.csv", "transfer_predictions.csv", "report.html",
            "figures")  # fmt: skip
#: Failures that stand for a whole part (a model, or a family's views), not one metric.
_PART_FAILURES = ("model", "views")


class PartFailed(CLIError):
    """A part of the run (a model, a family's views) failed: exit code 1, not 2."""


def _check_out(out: Path, inputs: dict[str, list[Path]], data: Path | None = None) -> None:
    """Refuse an output folder that is an input or holds one, or lies in the --data folder.

    A run replaces what an earlier run wrote into ``--out``; an input there would be replaced
    (or, read from a folder, joined by the run's own files on the next run).
    """
    target = out.expanduser().resolve()
    partial = target.with_name(target.name + ".partial")
    for flag, paths in inputs.items():
        for path in paths:
            source = path.expanduser().resolve()
            for folder, what in ((target, "--out"), (partial, "the partial-results folder")):
                if source == folder or folder in source.parents:
                    verb = "is" if source == folder else "holds"
                    raise CLIError(
                        f"{what} {folder if what != '--out' else out} {verb} the input {path} "
                        f"({flag}); a run replaces what an earlier run wrote into its output "
                        "folder, so give --out another folder"
                    )
    if data is not None and data.is_dir():
        folder = data.expanduser().resolve()
        if target == folder or folder in target.parents:
            raise CLIError(
                f"--out {out} is inside the --data folder {data}: the next run on that folder "
                "would read this run's figures as images; give --out a folder outside it"
            )


class _Output:
    """One run's output folder: written in a staging folder beside it, then swapped in.

    Nothing touches ``--out`` until :meth:`commit`, which swaps the staged run in (an earlier
    run's files are replaced only then); on any error ``--out`` is as it was. What the run had
    written before the error (a profile's tables, when its report fails) is moved to
    ``<out>.partial``, as :meth:`keep_partial` does for a failed part; an empty staging folder
    is removed.
    """

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.stage = self.out

    def __enter__(self) -> _Output:
        import tempfile

        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.stage = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", suffix=".staging",
                                           dir=self.out.parent))  # fmt: skip
        # mkdtemp makes the folder private (0700); renamed to --out it gets a plain folder's mode
        umask = os.umask(0)
        os.umask(umask)
        self.stage.chmod(0o777 & ~umask)
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        import shutil

        if self.stage == self.out or not self.stage.exists():
            return
        if exc_type is not None and any(self.stage.iterdir()):
            # a later step failed: what was computed before it is not thrown away
            written = sorted(p.name for p in self.stage.iterdir())
            try:
                partial = self.keep_partial()
            except OSError:
                pass
            else:
                shown = ", ".join(written[:4]) + (" ..." if len(written) > 4 else "")
                _note(f"the run stopped with an error; what it had written ({shown}) is kept "
                      f"in {partial}; {self.out} is unchanged")  # fmt: skip
                return
        shutil.rmtree(self.stage, ignore_errors=True)

    def commit(self) -> None:
        """Swap the staged run into ``--out``; an earlier failed run's partial results go."""
        from manifold.io import replace_outputs

        replaced = replace_outputs(self.stage, self.out, _OUTPUTS)
        self.stage = self.out
        if replaced:
            names = ", ".join(replaced[:4]) + (" ..." if len(replaced) > 4 else "")
            _note(f"removed {len(replaced)} file(s) of an earlier run from {self.out} ({names}); "
                  "this run's files replace them")  # fmt: skip
        if self.partial.is_dir():
            _remove_outputs(self.partial)
            _note(f"removed the partial results of an earlier failed run from {self.partial}")

    def keep_partial(self) -> Path:
        """Move the staged files to ``<out>.partial`` (replacing an earlier one's files there)."""
        from manifold.io import replace_outputs

        replace_outputs(self.stage, self.partial, _OUTPUTS)
        self.stage = self.out
        return self.partial


def _remove_outputs(folder: Path) -> None:
    """Remove a command's own files from ``folder``, and the folder once it is empty."""
    import shutil

    for name in _OUTPUTS:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()


def _failed_parts(prof: Any) -> list[str]:
    """One line per failed part of a profile (a model, or a family whose views failed)."""
    lines = []
    for f in prof.failures:
        if f.get("metric") in _PART_FAILURES:
            where = f" @ {f['layer']}" if f.get("layer") is not None else ""
            error = (str(f["error"]).strip().splitlines() or ["failed"])[0]
            lines.append(f"{f['model']}{where}: {f['manifold']}/{f['metric']} ({error})")
    return list(dict.fromkeys(lines))


# -- inputs --------------------------------------------------------------------------------------
def _load_images(
    name: str,
    n_images: int | None,
    seed: int,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
):
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
        images = _read_folder(path, channels, size)
    elif name in loaders:
        images, _ = loaders[name]()
        if channels is not None and images.shape[1] != channels:
            images = _convert_channels(images, channels)
        if size is not None:
            images = datasets.resize_images(images, size)
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


def _read_folder(path: Path, channels: int | None = None, size: tuple[int, int] | None = None):
    """Images of a folder and its subfolders (:func:`manifold.datasets.load_image_folder`).

    ``channels`` None keeps the images' mode: 1 channel when every image is grey, else RGB.
    """
    from manifold.datasets import load_image_folder

    try:
        images, _ = load_image_folder(path, channels=channels, size=size)
    except ValueError as err:
        text = str(err).replace("pass size=(H, W)", "pass --resize H[,W]")
        if text.startswith("no "):
            text += "; add some or point --data at another folder"
        raise CLIError(text) from err
    return images


def _resize(text: str) -> tuple[int, int]:
    """``--resize``: ``H`` (square) or ``H,W``."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected H or H,W in pixels (e.g. 32 or 224,224), got {text!r}"
        )
    return (values[0], values[-1])


def _load_model(spec: str, device: Any):
    from manifold.runner import load_model

    try:
        return load_model(spec, device=device)
    except ValueError as err:
        raise CLIError(str(err)) from err


def _load_embeddings(path: Path):
    """:func:`manifold.io.load_embeddings`, its errors as the command's."""
    from manifold.io import load_embeddings

    try:
        return load_embeddings(path)
    except (FileNotFoundError, ValueError) as err:
        raise CLIError(str(err)) from err


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
    from manifold.results import COLUMNS

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
    from manifold.results import Profile

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


def _read_reference(path: str):
    """``--reference``: a CSV with a model column and one column per known property."""
    import pandas as pd

    file = Path(path).expanduser()
    if not file.is_file():
        raise CLIError(f"reference file {file} does not exist; give a CSV with a model column "
                       "and one column per property known without geometry (e.g. the recipe's "
                       "augmentations as 0/1, the method, a hyperparameter)")  # fmt: skip
    table = pd.read_csv(file)
    if table.shape[1] < 2:
        raise CLIError(f"{file} needs a model column and at least one property column")
    table = table.set_index(table.columns[0])
    table.index = table.index.map(str)
    return table


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
    groups: Any = None,
    reference: Any = None,
    hold_out: str | None = None,
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
    notes = _unmatched_names(prof.models, list(scores.index))
    scores, constant = _usable_tasks(scores, common)
    notes += constant
    mismatch = prof.mismatched_settings()
    if mismatch:
        from manifold.results import describe_mismatch

        _note("the profiles were computed with different settings, so their metrics are not "
              f"directly comparable: {describe_mismatch(mismatch)}")  # fmt: skip
    matrix = prof.to_matrix().loc[common]
    kept = [c for c in controls or () if c in common]
    evaluated = [m for m in common if m not in kept]
    if groups is not None:
        missing = [m for m in evaluated if m not in groups.index]
        if missing:
            raise CLIError(f"the groups file has no group for models {missing}; add a row "
                           "model,group for each")  # fmt: skip
        groups = groups.loc[evaluated]
        if hold_out != "model" and groups.nunique() < 3:
            raise CLIError(
                f"--groups holds {groups.nunique()} group(s) among the scored models; leaving "
                "one group out needs at least 3 (or pass --hold-out model)"
            )
    if reference is not None:
        missing = [m for m in evaluated if m not in reference.index]
        if missing:
            raise CLIError(
                f"the reference file has no row for models {missing}; add one per model (the "
                "columns: what you know of each model without geometry)"
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # baseline notes are kept in .notes
        try:
            evaluation = TransferPredictor(max_features=max_features).evaluate(
                matrix,
                scores.loc[common],
                n_permutations=n_permutations,
                seed=seed,
                controls=kept or None,
                groups=groups,
                reference=reference,
                hold_out=hold_out,
            )
        except ValueError as err:
            raise CLIError(str(err)) from err
    evaluation.notes.extend(notes)
    return evaluation


def _unmatched_names(profiled: list[str], scored: list[str]) -> list[str]:
    """Notes on profiled models without a score, each with the table's close name if any.

    A score row that matches no profile but is close to a model left out (difflib) is
    most likely that model under a mistyped name.
    """
    import difflib

    missing = [m for m in profiled if m not in scored]
    if not missing:
        return []
    unknown = [m for m in scored if m not in profiled]
    notes = [f"models without transfer scores, left out: {missing}"]
    for name in missing:
        close = difflib.get_close_matches(name, unknown, n=1, cutoff=0.6)
        if close:
            notes.append(f"the transfer table's model {close[0]!r} matches no profile: did you "
                         f"mean {name!r}? (rename the row to use its scores)")  # fmt: skip
    return notes


def _usable_tasks(scores: Any, models: list[str]) -> tuple[Any, list[str]]:
    """The task columns with something to predict, and a note for each left out.

    A task whose score is the same for every model (or missing for all but one) has no
    ranking to predict: its row would be all NaN.
    """
    import pandas as pd

    notes, keep = [], []
    for task in scores.columns:
        values = pd.to_numeric(scores.loc[models, task], errors="coerce")
        distinct = values.dropna().unique()
        if len(distinct) >= 2:
            keep.append(task)
        elif len(distinct) == 1:
            notes.append(f"task {task!r} has the same score ({distinct[0]:.4g}) for every model: "
                         "there is no ranking to predict, left out")  # fmt: skip
        else:
            notes.append(f"task {task!r} has no numeric score for these models, left out")
    if not keep and models:
        raise CLIError("no task of the transfer table has scores that differ between the "
                       f"profiled models ({'; '.join(notes)})")  # fmt: skip
    return scores[keep], notes


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
    """``manifold profile``: profile models (or embeddings) and write tables and a report.

    Everything is checked (options, files, models against the images) before ``--out`` is
    touched; the run is written beside it and swapped in at the end.
    """
    from manifold.profiling import profile
    from manifold.results import Profile

    out = Path(args.out)
    profiles: list[Any] = []
    if getattr(args, "layer", None) and getattr(args, "layers", None):
        raise CLIError(f"give --layer (one submodule: {args.layer!r}) or --layers (a sweep: "
                       f"{args.layers!r}), not both")  # fmt: skip
    if args.embeddings:
        if args.model:
            raise CLIError("give either --model or --embeddings, not both")
        if args.layers:
            raise CLIError("--layers needs --model: embeddings have no layers")
        _check_out(out, {"--embeddings": [Path(args.embeddings)]})
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
        fams = _families(args.families) if args.families else list(views)
        missing = [f for f in fams if f not in views]
        if missing and args.families:
            raise CLIError(f"{args.embeddings} has no views for {missing}; it has "
                           f"{sorted(views) or 'none'} (arrays named views_<family>)")  # fmt: skip
        _check_k(args.k, len(z), f"the embeddings in {args.embeddings} hold")
        name = args.name[0] if args.name else Path(args.embeddings).stem
        run = _Output(out)
        with run:
            profiles.append(profile(z, view_embeddings={f: views[f] for f in fams},
                                    families=fams or None, k=args.k, seed=args.seed, name=name,
                                    curvature=args.curvature,
                                    n_bootstrap=getattr(args, "bootstrap", 0),
                                    progress=False if args.quiet else None))  # fmt: skip
            _stop_on_failed_parts(Profile.concat(profiles), run, args)
            return _finish_profile(Profile.concat(profiles), run, args)
    if not args.model:
        raise CLIError("give --model (zoo:<name>, efficientnet-lite0, model.pt, "
                       "module.py:factory) or --embeddings file")  # fmt: skip
    args.model = _expand_model_folders(args.model, args.name or [])
    names = _model_names(args.model, args.name or [])
    fams = _families(args.families or DEFAULT_FAMILIES)
    data = Path(args.data).expanduser()
    _check_out(out, {"--model": _model_files(args.model), "--data": [data]}, data=data)
    # every model is loaded and probed before the run starts, so that a bad model fails fast
    models = {name: _load_model(spec, args.device)
              for name, spec in zip(names, args.model, strict=True)}  # fmt: skip
    n_images = DEFAULT_N_IMAGES if args.n_images is None else args.n_images
    images = _load_images(args.data, n_images, args.seed, args.channels,
                          getattr(args, "resize", None))  # fmt: skip
    for name, model in models.items():
        _probe_model(model, images, name, args)
    _check_k(args.k, len(images), f"--data {args.data} gives")
    run = _Output(out)
    with run:
        for name, model in models.items():
            try:
                prof = _profile_model(model, images, fams, name, args)
            except BaseException:
                if profiles:
                    partial = _keep_partial(Profile.concat(profiles), run, args)
                    print(f"kept the {len(profiles)} finished model(s) in "
                          f"{partial / 'profile.csv'}; {out} is unchanged")  # fmt: skip
                raise
            profiles.append(prof)
            _stop_on_failed_parts(Profile.concat(profiles), run, args)
        # several models, one representation each: also compare them directly
        direct = (models, images) if len(models) > 1 and not args.layers else None
        return _finish_profile(Profile.concat(profiles), run, args, direct)


def _check_k(k: int, n: int, source: str) -> None:
    """The graphs need more points than neighbours: ``--k`` below the number of images."""
    if k + 1 > n:
        raise CLIError(f"--k {k} needs at least {k + 1} images (each point's {k} neighbours and "
                       f"itself), but {source} {n}; lower --k or give more images"
                       " (--n-images, --data)")  # fmt: skip


def _model_files(specs: list[str]) -> list[Path]:
    """The files named by ``--model`` specs (a TorchScript file, the .py of module.py:factory)."""
    files = []
    for spec in specs:
        file = spec.rsplit(":", 1)[0] if ".py:" in spec else spec
        if not spec.startswith("zoo:") and Path(file).expanduser().is_file():
            files.append(Path(file))
    return files


def _stop_on_failed_parts(prof: Any, run: _Output, args: argparse.Namespace) -> None:
    """Without --keep-going, a failed part ends the run: its results go to <out>.partial."""
    failed = _failed_parts(prof)
    if not failed:
        return
    if getattr(args, "keep_going", False):
        for line in failed:
            print(f"  failed: {line}")
        return
    partial = _keep_partial(prof, run, args, report=True)
    shown = "; ".join(failed[:3]) + (f" (+{len(failed) - 3} more)" if len(failed) > 3 else "")
    raise PartFailed(
        f"{len(failed)} part(s) failed: {shown}. {run.out} is unchanged; this run's results "
        f"are in {partial}. Rerun with --keep-going to write a run with failed parts"
    )


def _keep_partial(prof: Any, run: _Output, args: argparse.Namespace, report: bool = False) -> Path:
    """Write a stopped run's profile (and report) to ``<out>.partial``; return that folder."""
    command = _record_inputs(prof, args)
    files = _write_profile_tables(prof, run.stage)
    if report:
        _report(prof, run.stage, files, title="manifold profile (stopped: a part failed)",
                command=command)  # fmt: skip
    return run.keep_partial()


def _record_inputs(prof: Any, args: argparse.Namespace) -> str:
    """Add the command line and what was read (--data or --embeddings) to every model's settings.

    Returns the command line.
    """
    command = _command_line(args)
    inputs: dict[str, Any] = {"command": command}
    if getattr(args, "embeddings", None):
        inputs["embeddings"] = str(args.embeddings)
    else:
        inputs["data"] = str(args.data)
        for flag in ("channels", "resize"):
            if getattr(args, flag, None) is not None:
                inputs[flag] = getattr(args, flag)
    for settings in prof.settings.values():
        settings.update(inputs)
    return command


def _finish_profile(prof: Any, run: _Output, args: argparse.Namespace, direct: Any = None) -> int:
    """Write the tables and the report of a finished profile run and swap them into --out.

    ``direct``: ``(models, images)`` of a run of several models, whose representations are also
    compared directly (debiased CKA) in ``similarity_matrix.csv`` and the report.
    """
    command = _record_inputs(prof, args)
    files = _write_profile_tables(prof, run.stage)
    similarity, notes = None, []
    if direct is not None:
        models, images = direct
        # a model with a failed part is not embedded again for the comparison
        failed = {f["model"] for f in prof.failures}
        names = [m for m in models if m not in failed]
        similarity, notes = _compare_or_note(models, images, names, run.stage, files, args)
    title = f"manifold profile: {', '.join(prof.models[:4])}" + (
        " ..." if len(prof.models) > 4 else ""
    )
    # the eigenspectra are those the engine read the spectral metrics from (prof.spectra)
    _report(prof, run.stage, files, title=title, command=command, similarity=similarity,
            notes=notes or None)  # fmt: skip
    run.commit()
    out = run.out
    print(f"wrote {out / 'profile.csv'}, {out / 'metrics_matrix.csv'} and {out / 'report.html'}")
    return 0


#: profile options that apply to a model only (ignored, with a note, with --embeddings).
_MODEL_OPTIONS = ("device", "layer", "normalize", "output", "channels", "n_images", "resize")
DEFAULT_DATA = "mnist"
DEFAULT_N_IMAGES = 500


def _default_name(spec: str) -> str:
    """A model's name in the table without --name: the zoo name, the factory or the file's stem.

    ``zoo:simclr_t0.1`` -> ``simclr_t0.1``; ``models.py:small_cnn`` -> ``small_cnn`` (two
    factories of one file get two names); ``runs/encoder.pt`` -> ``encoder``.
    """
    if spec.startswith("zoo:"):
        return spec.removeprefix("zoo:")
    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        return spec.rsplit(":", 1)[1]
    path = Path(spec)
    return path.stem if path.suffix in MODEL_SUFFIXES else spec


def _expand_model_folders(specs: list[str], names: list[str]) -> list[str]:
    """``--model`` specs with each folder replaced by its model files, in name order.

    A folder of checkpoints (``.pt2``, ``.pt``, ``.pth``, ``.ts``, ``.jit``; not searched
    below) stands for each of them, named by its file's stem: what ``manifold select`` then
    chooses among. Names come from the files, so ``--name`` cannot go with a folder.
    """
    out: list[str] = []
    folders = []
    for spec in specs:
        path = Path(spec).expanduser()
        if spec.startswith("zoo:") or not path.is_dir():
            out.append(spec)
            continue
        folders.append(spec)
        found = sorted(str(f) for f in path.iterdir()
                       if f.is_file() and f.suffix in MODEL_SUFFIXES)  # fmt: skip
        if not found:
            raise CLIError(f"--model {spec} is a folder without model files "
                           f"({', '.join(MODEL_SUFFIXES)}); give files, or a folder of "
                           "exported checkpoints")  # fmt: skip
        out.extend(found)
    if folders and names:
        raise CLIError(f"--name cannot go with a folder given as --model ({folders[0]}): its "
                       "models are named by their files' stems")  # fmt: skip
    return out


def _model_names(specs: list[str], names: list[str]) -> list[str]:
    """One distinct name per ``--model``: ``--name`` or the default; a clash names both specs."""
    if names and len(names) != len(specs):
        raise CLIError(f"got {len(specs)} --model but {len(names)} --name; give one "
                       "name per model or none")  # fmt: skip
    chosen = names or [_default_name(spec) for spec in specs]
    seen: dict[str, str] = {}
    for name, spec in zip(chosen, specs, strict=True):
        if name in seen:
            how = "--name" if names else "the default name"
            raise CLIError(f"--model {seen[name]} and --model {spec} both get {how} {name!r}; "
                           "give each model its own --name (one per --model, in "
                           "order)")  # fmt: skip
        seen[name] = spec
    return chosen


def _command_line(args: argparse.Namespace | None = None) -> str:
    """The command as the user gave it (the arguments ``main`` parsed)."""
    import shlex

    argv = getattr(args, "argv", None)
    argv = sys.argv[1:] if argv is None else argv
    return " ".join(["manifold", *map(shlex.quote, argv)])


def _embedder_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "layer": getattr(args, "layer", None),
        "transform": getattr(args, "normalize", None),
        "batch_size": getattr(args, "batch_size", None) or 256,
        "output": getattr(args, "output", None),
    }


def _probe_model(model: Any, images: Any, name: str, args: argparse.Namespace) -> None:
    """Embed two images as the run will: a model that does not take them is a one-line error.

    Runs before the output folder is touched: an unknown ``--layer``, images of the wrong
    channels or size, or an output that is not ``(N, D)`` end the command here.
    """
    from manifold.embed import Embedder

    shape = tuple(images.shape)
    options = _embedder_options(args)
    layers = _layer_names(getattr(args, "layers", None))
    # a sweep is probed as it runs: every layer, each read by the --output rule
    probe = options if layers is None else {**options, "layer": None, "layers": layers}
    try:
        embedder = Embedder(model, device=args.device, progress=False, **probe)
    except ValueError as err:  # an unknown --layer or --layers name: the message lists them
        raise CLIError(f"model {name!r}: {_flags(str(err))}") from err
    try:
        with warnings.catch_warnings():
            # a probe: the profile below says the same (e.g. which output element), once
            warnings.simplefilter("ignore", UserWarning)
            z = embedder.embed(images[:2])
    except (RuntimeError, ValueError, TypeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        if layers is not None and "layer" in first:  # e.g. --output against a swept layer
            raise CLIError(f"model {name!r}: {_flags(first)}") from err
        if "output" in first:  # the model ran; --output does not fit what it returns
            raise CLIError(f"model {name!r}: {_flags(first)}") from err
        raise CLIError(
            f"model {name!r} cannot embed images of shape {shape[1:]} (C, H, W) ({first}); "
            + _input_advice(embedder, images)
        ) from err
    for where, out in z.items() if layers is not None else [(None, z)]:
        if out.ndim != 2:
            what = f"layer {where!r} of model {name!r}" if where is not None else f"model {name!r}"
            raise CLIError(f"{what} returns outputs of shape {tuple(out.shape)}; expected "
                           "(N, D) embeddings (pool or flatten in the model)")  # fmt: skip


def _input_advice(embedder: Any, images: Any) -> str:
    """What to change so the model takes the images: --channels when the other count works."""
    channels = images.shape[1]
    other = 1 if channels == 3 else 3 if channels == 1 else None
    if other is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                embedder.embed(_convert_channels(images[:2], other))
        except Exception:  # noqa: BLE001 - the other channel count does not help either
            pass
        else:
            return (f"the model takes {other}-channel images and the data has {channels}: add "
                    f"--channels {other}")  # fmt: skip
    return (
        "read the images with --channels 1|3 for another number of channels, or "
        "--resize H[,W] for the size the model was trained on"
    )


#: Python parameter names in library messages -> the flags that set them.
_FLAG_NAMES = {"n_views": "--n-views", "n_bootstrap": "--bootstrap", "batch_size": "--batch-size",
               "layers=": "--layers ", "layer=": "--layer ", "output=": "--output ",
               "n_images": "--n-images"}  # fmt: skip


def _flags(message: str) -> str:
    """A library message with its parameter names replaced by the command's flags."""
    import re

    for name, flag in _FLAG_NAMES.items():
        message = re.sub(rf"(?<![\w.-]){re.escape(name)}", flag, message)
    return message


def _profile_model(model: Any, images: Any, fams: list[str], name: str, args: argparse.Namespace):
    """Profile one model (probed first by :func:`_probe_model`).

    The profile carries the spectrum of the model's output (or ``--layer``) for the
    eigenspectrum figure; a layer sweep (``--layers``) has none: its figures are the metrics
    against depth.
    """
    from manifold.profiling import profile
    from manifold.settings import DEFAULT_N_VIEWS

    layers = _layer_names(getattr(args, "layers", None))
    n_views = args.n_views or DEFAULT_N_VIEWS
    return profile(model, images, families=fams, n_views=n_views, k=args.k, seed=args.seed,
                   name=name, device=args.device, progress=False if args.quiet else None,
                   curvature=getattr(args, "curvature", False), layers=layers,
                   n_bootstrap=getattr(args, "bootstrap", 0),
                   **_embedder_options(args))  # fmt: skip


def _layer_names(text: str | None) -> list[str] | None:
    """The entries of ``--layers`` (comma-separated names, patterns or ``all``)."""
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise CLIError("--layers is empty; give comma-separated submodule names, a pattern such "
                       "as 'features.*', or 'all'")  # fmt: skip
    return names


def _analysis_inputs(args: argparse.Namespace) -> dict[str, list[Path]]:
    """The input files and folders of ``cluster`` and ``predict``."""
    inputs = {"PROFILE": [Path(p) for p in args.profiles]}
    for flag in ("groups", "transfer", "reference", "fit"):
        if getattr(args, flag, None):
            inputs[f"--{flag}"] = [Path(getattr(args, flag))]
    return inputs


def cmd_cluster(args: argparse.Namespace) -> int:
    """``manifold cluster``: cluster saved profiles; labels, ARI, dendrogram and map."""
    out = Path(args.out)
    _check_out(out, _analysis_inputs(args))
    prof = _load_profiles(args.profiles)
    groups = _read_groups(args.groups) if args.groups else None
    result = _run_cluster(prof, groups, args)
    with _Output(out) as run:
        files = _write_cluster_tables(result, run.stage)
        _report(prof, run.stage, files, clusters=result, title="manifold cluster",
                command=_command_line(args))  # fmt: skip
        run.commit()
    report = out / "report.html"
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


def cmd_select(args: argparse.Namespace) -> int:
    """``manifold select``: rank candidates (checkpoints, settings) without their labels."""
    import warnings

    from manifold.zoo import TransferPredictor, select

    out = Path(args.out)
    _check_out(out, _analysis_inputs(args))
    prof = _load_profiles(args.profiles)
    by: Any = args.by
    if args.fit is not None:
        if args.transfer is None:
            raise CLIError("--fit needs --transfer: the scores of the models in the --fit "
                           "profiles, which the predictor learns from")  # fmt: skip
        train = _load_profiles([args.fit])
        scores = _read_transfer(args.transfer)
        scores.index = scores.index.map(str)
        overlap = sorted(set(train.models) & set(prof.models))
        if overlap:
            raise CLIError(f"models {overlap} are both candidates and --fit models; a predictor "
                           "must be fitted on other models than the ones it ranks")  # fmt: skip
        common = [m for m in train.models if m in scores.index]
        if args.task is not None and args.task not in scores.columns:
            raise CLIError(f"--task {args.task!r} is not a column of {args.transfer}; its tasks: "
                           f"{list(scores.columns)}")  # fmt: skip
        tasks = [args.task] if args.task else list(scores.columns)
        if len(tasks) != 1:
            raise CLIError(f"{args.transfer} has tasks {tasks}; pick one with --task")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                by = TransferPredictor().fit(train.to_matrix().loc[common],
                                             scores.loc[common, tasks[0]])  # fmt: skip
            except ValueError as err:
                raise CLIError(f"cannot fit the predictor on --fit: {err}") from err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            table = select(prof, by=by, collapse_rank=args.collapse_rank)
        except ValueError as err:
            raise CLIError(str(err)) from err
    with _Output(out) as run:
        table.to_csv(run.stage / "selection.csv")
        run.commit()
    shown = table.copy()
    shown["within_noise"] = shown["within_noise"].astype(object).where(
        shown["within_noise"].notna(), "–")  # fmt: skip
    print(shown.drop(columns="criterion").round(4).to_string())
    top = table.index[0]
    ties = [m for m in table.index[1:] if table.loc[m, "within_noise"] is True]
    line = f"best by {table['criterion'].iloc[0]}: {top}"
    if table.loc[top, "collapsed"]:
        line += " (every candidate is collapsed: nothing to choose)"
    elif ties:
        line += f"; within noise of it: {', '.join(ties)}"
    elif table["se"].isna().all():
        line += " (no standard errors: profile with --bootstrap 30 to mark ties within noise)"
    print(line)
    print(f"wrote {out / 'selection.csv'}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``manifold predict``: leave-one-model-out transfer prediction from saved profiles."""
    out = Path(args.out)
    _check_out(out, _analysis_inputs(args))
    scores = None if args.transfer is None else _read_transfer(args.transfer)
    prof = _load_profiles(args.profiles)
    if scores is None:
        scores = _read_transfer(None, prof.models)
    groups = None if args.groups is None else _read_groups(args.groups)
    reference = None if args.reference is None else _read_reference(args.reference)
    if args.hold_out == "group" and groups is None:
        raise CLIError("--hold-out group needs --groups (a CSV with columns model,group)")
    evaluation = _run_predict(prof, scores, args.permutations, args.seed, args.max_features,
                              bundled=args.transfer is None, groups=groups, reference=reference,
                              hold_out=args.hold_out)  # fmt: skip
    with _Output(out) as run:
        files = _write_transfer_tables(evaluation, run.stage)
        _report(prof, run.stage, files, transfer=evaluation, title="manifold predict",
                notes=evaluation.notes, command=_command_line(args))  # fmt: skip
        run.commit()
    report = out / "report.html"
    from manifold.report import transfer_columns, transfer_verdict

    # the profile's agreement next to every one-metric baseline's, then one verdict per task
    print(evaluation.table[transfer_columns(evaluation)].round(3).to_string())
    n_models = int(evaluation.table["n_models"].max())
    print(f"R² is over {n_models} models, leave one model out: with so few it is noisy and "
          "often negative; read it against null_r2 (the intercept-only R², itself < 0) and "
          "rank it below Spearman and its p-value")  # fmt: skip
    for task in evaluation.table.index:
        print(transfer_verdict(evaluation, task))
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
    if args.model:
        args.model = _expand_model_folders(args.model, names)
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
    from manifold.datasets import load_factor_mnist, load_zoo

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
    # one job per model through the engine, each part checkpointed as it finishes: an
    # interrupted demo resumes where it stopped, and a failing model is reported while the
    # others finish; the checkpoints are a cache beside the run, not part of it
    from manifold.runner import profile_zoo

    checkpoints = out / "checkpoints"
    try:
        prof = profile_zoo(models, images, families=fams, n_views=n_views, k=args.k,
                           seed=args.seed, checkpoint_dir=checkpoints, device=args.device,
                           progress=False if args.quiet else None)  # fmt: skip
    except RuntimeError as err:  # every model failed
        raise CLIError(f"{err}; rerun with --verbose to see why") from err
    with _Output(out) as run:
        _stop_on_failed_parts(prof, run, args)
        _demo_analysis(prof, manifest, controls, run, args, started, fams, checkpoints,
                       models, images)  # fmt: skip
        run.commit()
    print(f"wrote the tables, {out / 'figures'} and {out / 'report.html'} "
          f"({time.time() - started:.0f} s)")  # fmt: skip
    return 0


def _demo_analysis(prof: Any, manifest: Any, controls: list[str], run: _Output,
                   args: argparse.Namespace, started: float, fams: list[str],
                   checkpoints: Path, models: Any, images: Any) -> None:  # fmt: skip
    """The demo's clustering, similarity, transfer prediction and report, in the staged run."""
    import pandas as pd

    from manifold.datasets import load_transfer
    from manifold.results import Profile

    stage = run.stage
    files = _write_profile_tables(prof, stage)
    profiled = prof.models
    ssl = [m for m in profiled if m not in controls]

    clusters = evaluation = None
    groupings = {}
    if len(ssl) >= 3:
        ssl_prof = Profile(prof.table[prof.table["model"].isin(ssl)], prof.settings, [])
        for key in ("method", "recipe"):
            groupings[key] = manifest.loc[ssl, key].astype(str)
        clusters = _run_cluster(ssl_prof, None, args)
        files += _write_cluster_tables(clusters, stage)
        for key, groups in groupings.items():
            stats = clusters.agreement(groups, n_permutations=999, seed=args.seed)
            print(f"  clusters vs {key}: ARI {stats['ari']:.2f} (p = {stats['ari_p_value']:.3f}),"
                  f" NMI {stats['nmi']:.2f} (p = {stats['nmi_p_value']:.3f})")  # fmt: skip
    # what a user knows without geometry: which augmentation families each recipe has
    recipes = manifest.loc[profiled, "recipe"].astype(str)
    reference = pd.DataFrame({f: recipes.str.split("+").apply(lambda r, f=f: f in r).astype(float)
                              for f in ("crop", "color", "rotation", "blur")})  # fmt: skip
    try:
        evaluation = _run_predict(prof, load_transfer(), args.permutations, args.seed, None,
                                  controls=controls, groups=recipes, reference=reference,
                                  hold_out="group")  # fmt: skip
    except CLIError as err:
        print(f"  transfer prediction skipped: {err}")
    else:
        files += _write_transfer_tables(evaluation, stage)
        print(f"  transfer, {len(ssl)} self-supervised models (controls apart), each recipe "
              "held out in turn; Spearman [95 % CI, recipes resampled], regret in accuracy "
              "points; reference = the recipe's four families as 0/1 columns:")  # fmt: skip
        for task in evaluation.table.index:
            print("    " + evaluation.headline(task))
    failed = {f["model"] for f in prof.failures}
    compared = [m for m in ssl if m in models and m not in failed]
    similarity, skipped = _compare_or_note(models, images, compared, stage, files, args)
    notes = [
        f"{len(profiled)} models of the factor zoo, {prof.settings[profiled[0]]['n_images']} "
        "factor-MNIST test images, "
        f"{args.n_views} views per image and family ({', '.join(fams)}), k = {args.k}, "
        f"seed = {args.seed}; {time.time() - started:.0f} s on {args.device or 'cpu'}; "
        f"per-model checkpoints in {checkpoints} (a rerun resumes from them).",
    ]
    if evaluation is not None:
        notes.extend(evaluation.notes)
    notes.extend(skipped)
    scores = load_transfer().loc[ssl] if evaluation is not None else None
    command = _command_line(args)
    for settings in prof.settings.values():
        settings["command"] = command
    # the eigenspectra are those the jobs read the spectral metrics from (prof.spectra)
    _report(prof, stage, files, clusters=clusters, transfer=evaluation, groupings=groupings,
            scores=scores, title="manifold demo: the bundled factor zoo", notes=notes,
            command=command, similarity=similarity)  # fmt: skip


def _compare_or_note(models: Any, images: Any, names: list[str], stage: Path, files: list[str],
                     args: argparse.Namespace) -> tuple[Any, list[str]]:  # fmt: skip
    """:func:`_similarity_of`, or ``(None, [note])`` when a model fails to embed the images again.

    The comparison is an addition to a finished profile: its failure is reported and the profile
    is written all the same.
    """
    try:
        return _similarity_of(models, images, names, stage, files, args), []
    except (RuntimeError, ValueError, TypeError) as err:
        note = (
            f"the direct comparison of the models (similarity_matrix.csv) was not computed: {err}"
        )
        print(f"note: {note}")
        return None, [note]


def _similarity_of(models: Any, images: Any, names: list[str], stage: Path, files: list[str],
                   args: argparse.Namespace) -> Any:  # fmt: skip
    """Debiased CKA of every pair of ``names`` on the profiled images (None for fewer than 2).

    Written to ``similarity_matrix.csv`` in the staged run and drawn in the report beside the
    clustering of the metric profiles.
    """
    if len(names) < 2:
        return None
    import warnings

    from manifold.zoo import similarity_matrix

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # collapsed models: NaN rows, kept
        result = similarity_matrix(
            {n: models[n] for n in names}, images, measure="cka",
            device=getattr(args, "device", None), layer=getattr(args, "layer", None),
            output=getattr(args, "output", None), progress=False,
        )  # fmt: skip
    result.matrix.to_csv(stage / "similarity_matrix.csv")
    files.append("similarity_matrix.csv")
    return result


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


def _at_least_two(text: str) -> int:
    """``--n-views``: views per image; spreads and LiDAR need two views of an image."""
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected at least 2 views per image, got {value}")
    return value


def _bootstrap(text: str) -> int:
    """``--bootstrap``: 0 (no standard errors) or at least 2 resamples."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0 or value == 1:
        raise argparse.ArgumentTypeError(
            f"expected 0 (no standard errors) or at least 2 resamples, got {value}"
        )
    return value


def _add_keep_going(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keep-going", action="store_true",
                   help="write the run even when a part failed (a model, or a family's views): "
                   "the failures are listed in the report; without it a failed part exits "
                   "with code 1, --out stays as it was and the results go to "
                   "<out>.partial")  # fmt: skip


def _add_common(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: given after the subcommand it sets the flag, absent it keeps the top-level value
    p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks on errors")  # fmt: skip


def _add_sizes(p: argparse.ArgumentParser, n_images: str, n_views: str) -> None:
    """Size options; ``n_images``/``n_views`` describe the defaults (the values stay None)."""
    from manifold.augment import FAMILIES

    p.add_argument(
        "--families",
        default=None,
        help=f"comma-separated augmentation families, of {', '.join(FAMILIES)} "
        f"(default: {DEFAULT_FAMILIES})",
    )
    p.add_argument("--n-images", type=_positive_int, default=None,
                   help=f"images (N) (default: {n_images})")  # fmt: skip
    p.add_argument("--n-views", type=_at_least_two, default=None,
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
    p.add_argument("--resize", type=_resize, default=None, metavar="H[,W]",
                   help="resize every image to H x W pixels as it is read (bilinear, "
                   "antialiased; one number: square); a folder of mixed sizes needs "
                   "it")  # fmt: skip
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
    p.add_argument("--bootstrap", type=_bootstrap, default=0, metavar="B",
                   help="bootstrap resamples of the images for standard errors (rows with "
                   "statistic 'se'; 0: none, else at least 2)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``manifold`` command."""
    from manifold import __version__
    from manifold.settings import COLLAPSE_RANK

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
        help="zoo:<name>, efficientnet-lite0, model.pt2 (torch.export) or model.pt "
        "(TorchScript), module.py:factory, or a folder of such files (each a model, named by "
        "its file); repeat for several models",
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
    from manifold.settings import DEFAULT_N_VIEWS

    _add_sizes(prof, str(DEFAULT_N_IMAGES), str(DEFAULT_N_VIEWS))
    _add_model_options(prof)
    prof.add_argument("--name", action="append", help="model name in the table (one per model)")
    prof.add_argument("--out", default="manifold-profile", help="output folder")
    _add_keep_going(prof)
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

    sel = sub.add_parser(
        "select",
        help="rank candidates (checkpoints, settings) without labels",
        **fmt,
        description="Rank profiled candidates, best first, by a label-free criterion in its "
        "paper's direction, or by a predictor fitted on other models (--fit, --transfer); "
        "collapsed candidates last, ties within bootstrap noise marked; write selection.csv.",
    )
    sel.add_argument("profiles", nargs="+", help="profile.csv/.parquet files or folders")
    sel.add_argument(
        "--by",
        default="rankme",
        choices=("rankme", "effective_rank", "lidar", "alpha", "twonn"),
        help="criterion: rankme, effective_rank, lidar (higher is better), alpha (closest to "
        "1), twonn (lower is better)",
    )
    sel.add_argument("--fit", default=None, help="profiles of OTHER models to fit a predictor on")
    sel.add_argument("--transfer", default=None, help="CSV of the --fit models' scores")
    sel.add_argument("--task", default=None, help="the --transfer column to rank for")
    sel.add_argument(
        "--collapse-rank",
        type=float,
        default=COLLAPSE_RANK,
        help="a candidate whose RankMe is at most this counts as collapsed",
    )
    sel.add_argument("--out", default="manifold-select", help="output folder")
    _add_common(sel)
    sel.set_defaults(func=cmd_select)

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
    pred.add_argument(
        "--groups",
        default=None,
        help="CSV with columns model,group (a recipe, a training run): whole groups are held "
        "out, the bootstrap resamples groups, and the within-group rank is reported",
    )
    pred.add_argument(
        "--hold-out",
        choices=("model", "group"),
        default=None,
        help="hold out one model or one group at a time (default: group with --groups)",
    )
    pred.add_argument(
        "--reference",
        default=None,
        help="CSV: a model column and what you know of each model without geometry (recipe "
        "as 0/1 columns, method, hyperparameters); reports the gain of the geometry over it",
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
                      help="zoo:<name>, efficientnet-lite0, model.pt2 (torch.export) or "
                      "model.pt (TorchScript), module.py:factory, or a folder of such files; "
                      "repeat for each model")  # fmt: skip
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
    _add_keep_going(demo)
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
        0 on success, 1 when a part of the run failed (without ``--keep-going``), 2 on a user
        error (one line on stderr), 130 when interrupted.
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
        text = _one_line(err) if isinstance(err, CLIError) else _flags(_one_line(err))
        print(f"manifold {args.command}: error: {text}", file=sys.stderr)
        return 1 if isinstance(err, PartFailed) else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
