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
from pathlib import Path
from typing import Any

__all__ = ["CLIError", "build_parser", "main"]

DATASETS = ("mnist", "digits", "faces", "photos")
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


# -- inputs --------------------------------------------------------------------------------------
def _load_images(name: str, n_images: int | None, seed: int):
    import torch

    from manifold import datasets

    path = Path(name).expanduser()
    loaders = {
        "mnist": lambda: datasets.load_mnist("test"),
        "digits": datasets.load_digits,
        "faces": datasets.load_faces,
        "photos": datasets.load_photos,
    }
    if path.is_dir():
        images = _read_folder(path)
    elif name in loaders:
        images, _ = loaders[name]()
    elif path.exists():
        raise CLIError(f"--data {name} is a file; give a folder of images or one of {DATASETS}")
    elif "/" in name or "\\" in name or name.startswith("."):
        raise CLIError(f"data folder {name} does not exist; give a folder of images or a bundled "
                       f"data set ({', '.join(DATASETS)})")  # fmt: skip
    else:
        raise CLIError(
            f"unknown dataset {name!r}: use one of {', '.join(DATASETS)} or a folder of images"
        )
    if n_images is not None and n_images < len(images):
        gen = torch.Generator().manual_seed(seed)
        images = images[torch.randperm(len(images), generator=gen)[:n_images].sort().values]
    return images


def _read_folder(path: Path):
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CLIError(f"no {'/'.join(IMAGE_SUFFIXES)} images in folder {path}; add some or "
                       "point --data at another folder")  # fmt: skip
    arrays = []
    for f in files:
        try:
            with Image.open(f) as im:
                arrays.append(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
        except (OSError, UnidentifiedImageError) as err:
            raise CLIError(f"cannot read image {f} ({err}); remove it from the folder") from err
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


def _read_transfer(path: str | None):
    import pandas as pd

    if path is None:
        from manifold.datasets import load_transfer

        return load_transfer()
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
    prof: Any, scores: Any, n_permutations: int, seed: int, max_features: Any, controls=None
):
    import warnings

    from manifold.zoo import TransferPredictor
    from manifold.zoo.transfer import MIN_MODELS

    scores = scores.copy()
    scores.index = scores.index.map(str)
    common = [m for m in prof.models if m in scores.index]
    if len(common) < MIN_MODELS:
        raise CLIError(
            f"transfer prediction needs at least {MIN_MODELS} models with both a profile and "
            f"scores; found {len(common)} ({common}). Profile models named like the transfer "
            f"table's rows ({list(scores.index)[:6]}...)"
        )
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
    return ["profile.csv", "profile.json", "metrics_matrix.csv"]


def _report(prof: Any, out: Path, files: list[str], **kwargs: Any) -> Path:
    from manifold.report import write_report

    return write_report(prof, out / "report.html", files=files, figure_dir=out / "figures",
                        **kwargs)  # fmt: skip


def _spectrum_of(z: Any):
    from manifold.spectral import spectrum

    try:
        return spectrum(z)
    except ValueError:
        return None


# -- commands -------------------------------------------------------------------------------------
def cmd_profile(args: argparse.Namespace) -> int:
    """``manifold profile``: profile models (or embeddings) and write tables and a report."""
    from manifold.profiling import Profile, profile

    out = Path(args.out)
    profiles, spectra = [], {}
    if args.embeddings:
        if args.model:
            raise CLIError("give either --model or --embeddings, not both")
        if args.layers:
            raise CLIError("--layers needs --model: embeddings have no layers")
        z, views = _load_embeddings(Path(args.embeddings))
        fams = _families(args.families) if args.families else list(views)
        missing = [f for f in fams if f not in views]
        if missing and args.families:
            raise CLIError(f"{args.embeddings} has no views for {missing}; it has "
                           f"{sorted(views) or 'none'} (arrays named views_<family>)")  # fmt: skip
        name = args.name[0] if args.name else Path(args.embeddings).stem
        profiles.append(profile(z, views={f: views[f] for f in fams}, families=fams or None,
                                k=args.k, seed=args.seed, name=name,
                                progress=not args.quiet))  # fmt: skip
        spectra[name] = _spectrum_of(z)
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
        models = {(names[i] if names else spec.removeprefix("zoo:")): _load_model(spec, args.device)
                  for i, spec in enumerate(args.model)}  # fmt: skip
        if len(models) != len(args.model):
            raise CLIError("two models have the same name; give distinct --name values")
        images = _load_images(args.data, args.n_images, args.seed)
        for name, model in models.items():
            try:
                prof, z = _profile_model(model, images, fams, name, args)
            except CLIError:
                if profiles:
                    _write_profile_tables(Profile.concat(profiles), out)
                    print(f"kept the {len(profiles)} finished model(s) in {out / 'profile.csv'}")
                raise
            profiles.append(prof)
            if z is not None:
                spectra[name] = _spectrum_of(z)
            if len(args.model) > 1:  # never lose finished models to a later failure
                _write_profile_tables(Profile.concat(profiles), out)
    prof = Profile.concat(profiles)
    files = _write_profile_tables(prof, out)
    title = f"manifold profile: {', '.join(prof.models[:4])}" + (
        " ..." if len(prof.models) > 4 else ""
    )
    spectra = {k: v for k, v in spectra.items() if v is not None}
    report = _report(prof, out, files, spectra=spectra, title=title)
    print(f"wrote {out / 'profile.csv'}, {out / 'metrics_matrix.csv'} and {report}")
    for f in prof.failures:
        print(f"note: {f['model']}: {f['manifold']}/{f['metric']} not computed: {f['error']}")
    return 0


def _profile_model(model: Any, images: Any, fams: list[str], name: str, args: argparse.Namespace):
    """Profile one model; a model that does not take these images is a one-line error."""
    from manifold.embed import Embedder
    from manifold.profiling import profile

    shape = tuple(images.shape)
    try:
        z = Embedder(model, device=args.device, progress=False).embed(images[:2])
    except (RuntimeError, ValueError, TypeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CLIError(
            f"model {name!r} cannot embed images of shape {shape[1:]} (C, H, W) ({first}); pick "
            f"--data that matches the model's input (bundled: {', '.join(DATASETS)})"
        ) from err
    if z.ndim != 2:
        raise CLIError(f"model {name!r} returns outputs of shape {tuple(z.shape)}; expected "
                       "(N, D) embeddings (pool or flatten in the model)")  # fmt: skip
    layers = [t.strip() for t in args.layers.split(",") if t.strip()] if args.layers else None
    try:
        prof = profile(model, images, families=fams, n_views=args.n_views, k=args.k,
                       seed=args.seed, name=name, device=args.device, progress=not args.quiet,
                       layers=layers)  # fmt: skip
    except ValueError as err:
        if layers is None or "layer" not in str(err):
            raise
        raise CLIError(f"model {name!r}: {err}") from err
    if layers is not None:  # the eigenspectrum figure is of the model's output: not drawn
        return prof, None
    z = Embedder(model, device=args.device, progress=False).embed(images)
    return prof, z


def cmd_cluster(args: argparse.Namespace) -> int:
    """``manifold cluster``: cluster saved profiles; labels, ARI, dendrogram and map."""
    prof = _load_profiles(args.profiles)
    groups = _read_groups(args.groups) if args.groups else None
    result = _run_cluster(prof, groups, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = _write_cluster_tables(result, out)
    report = _report(prof, out, files, clusters=result, title="manifold cluster")
    ari = result.adjusted_rand_index
    print(
        f"{len(result.models)} models in {result.n_clusters} clusters ({result.n_clusters_rule})"
        + (f", ARI vs groups = {ari:.3f}" if ari is not None else "")
        + f"; wrote {out / 'clusters.csv'}, {out / 'figures'} and {report}"
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``manifold predict``: leave-one-model-out transfer prediction from saved profiles."""
    scores = _read_transfer(args.transfer)
    prof = _load_profiles(args.profiles)
    evaluation = _run_predict(prof, scores, args.permutations, args.seed, args.max_features)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = _write_transfer_tables(evaluation, out)
    report = _report(prof, out, files, transfer=evaluation, title="manifold predict",
                     notes=evaluation.notes)  # fmt: skip
    print(evaluation.table[["r2", "spearman", "kendall", "p_value"]].round(3).to_string())
    print(f"wrote {out / 'transfer_evaluation.csv'}, {out / 'figures'} and {report}")
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
    profiles, spectra = [], {}
    for name, model in models.items():
        t0 = time.time()
        try:
            prof, z = _profile_model(model, images, fams, name, args)
        except Exception as err:  # noqa: BLE001 - one broken model must not stop the others
            print(f"  {name}: failed ({type(err).__name__}: {err})")
            continue
        profiles.append(prof)
        spectra[name] = _spectrum_of(z)
        _write_profile_tables(Profile.concat(profiles), out)
        if not args.quiet:
            print(f"  {name}: {time.time() - t0:.1f} s")
    if not profiles:
        raise CLIError("every model failed; rerun with --verbose to see why")
    prof = Profile.concat(profiles)
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
        f"{len(profiles)} models of the factor zoo, {n_images} factor-MNIST test images, "
        f"{n_views} views per image and family ({', '.join(fams)}), k = {args.k}, "
        f"seed = {args.seed}; {time.time() - started:.0f} s on {args.device or 'cpu'}.",
    ]
    if evaluation is not None:
        notes.extend(evaluation.notes)
    spectra = {k: v for k, v in spectra.items() if v is not None}
    scores = load_transfer().loc[ssl] if evaluation is not None else None
    report = _report(prof, out, files, spectra=spectra, clusters=clusters, transfer=evaluation,
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


def _add_sizes(p: argparse.ArgumentParser, n_images: int | None, n_views: int | None) -> None:
    p.add_argument(
        "--families",
        default=None,
        help=f"comma-separated augmentation families (default: {DEFAULT_FAMILIES})",
    )
    p.add_argument("--n-images", type=_positive_int, default=n_images, help="images (N)")
    p.add_argument("--n-views", type=_positive_int, default=n_views, help="views per image (K)")
    p.add_argument("--k", type=_positive_int, default=10, help="neighbours per node (k)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 or auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``manifold`` command."""
    parser = argparse.ArgumentParser(
        prog="manifold",
        description="Label-free geometry of learned representations.",
    )
    parser.add_argument("--verbose", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prof = sub.add_parser(
        "profile",
        help="profile models (or ready embeddings) on a data set",
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
        default="mnist",
        help=f"{', '.join(DATASETS)} or a folder of images (default: mnist)",
    )
    _add_sizes(prof, 500, 8)
    prof.add_argument("--name", action="append", help="model name in the table (one per model)")
    prof.add_argument(
        "--layers",
        help="profile these submodules of each model from one forward pass per batch: "
        "comma-separated names, a pattern such as 'features.*', or 'all'",
    )
    prof.add_argument("--out", default="manifold-profile", help="output folder")
    _add_common(prof)
    prof.set_defaults(func=cmd_profile)

    clus = sub.add_parser(
        "cluster",
        help="cluster saved profiles by geometry",
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
        description="Leave-one-model-out transfer prediction: write "
        "transfer_evaluation.csv, transfer_predictions.csv, a figure and a "
        "report.",
    )
    pred.add_argument("profiles", nargs="+", help="profile.csv/.parquet files or folders")
    pred.add_argument(
        "--transfer",
        default=None,
        help="CSV: a model column, one column per task (default: the bundled "
        "linear-probe table of the zoo)",
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
    pred.add_argument("--seed", type=int, default=0)
    pred.add_argument("--out", default="manifold-predict", help="output folder")
    _add_common(pred)
    pred.set_defaults(func=cmd_predict)

    demo = sub.add_parser(
        "demo",
        help="profile, cluster and predict on the bundled factor zoo",
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
    _add_sizes(demo, None, None)
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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
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
