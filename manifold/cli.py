"""The ``manifold`` command: ``demo`` (the main job on bundled data) and ``profile``.

Errors are reported as one line naming the problem and the fix, with exit code 2; ``--verbose``
shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

DATASETS = ("mnist", "digits", "faces", "photos")


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _load_images(name: str, n_images: int | None, seed: int):
    import torch

    from manifold import datasets

    path = Path(name)
    if path.is_dir():
        images = _read_folder(path)
    elif name == "mnist":
        images, _ = datasets.load_mnist("test")
    elif name == "digits":
        images, _ = datasets.load_digits()
    elif name == "faces":
        images, _ = datasets.load_faces()
    elif name == "photos":
        images, _ = datasets.load_photos()
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
    from PIL import Image

    files = sorted(
        p for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp")
    )
    if not files:
        raise CLIError(f"no .png/.jpg/.bmp images in folder {path}")
    arrays = []
    for f in files:
        with Image.open(f) as im:
            arrays.append(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise CLIError(
            f"images in {path} have different sizes {sorted(shapes)[:3]}...; resize them to one "
            "size first"
        )
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _load_model(spec: str, device: Any):
    import torch

    if spec.startswith("zoo:"):
        from manifold.datasets import load_zoo

        name = spec[4:]
        try:
            models, _ = load_zoo([name], device=device)
        except ValueError as err:
            raise CLIError(str(err)) from err
        return models[name]
    if spec in ("efficientnet-lite0", "efficientnet_lite0"):
        from manifold.datasets import efficientnet_lite0

        return efficientnet_lite0(device=device)
    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        file, factory = spec.rsplit(":", 1)
        if not Path(file).is_file():
            raise CLIError(f"model file {file} does not exist")
        mod_spec = importlib.util.spec_from_file_location("_manifold_user_model", file)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
        if not hasattr(module, factory):
            raise CLIError(f"{file} has no function {factory!r}")
        model = getattr(module, factory)()
        if not isinstance(model, torch.nn.Module):
            raise CLIError(f"{file}:{factory}() returned {type(model).__name__}, not a Module")
        return model
    path = Path(spec)
    if path.is_file():
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as err:
            raise CLIError(
                f"cannot read {path} as a TorchScript model ({str(err).splitlines()[0]}); save "
                "it with torch.jit.save, or use module.py:factory"
            ) from err
    raise CLIError(
        f"unknown model {spec!r}: use zoo:<name>, efficientnet-lite0, a TorchScript file, or "
        "module.py:factory"
    )


def _load_embeddings(path: Path):
    import numpy as np
    import torch

    if not path.is_file():
        raise CLIError(f"embeddings file {path} does not exist")
    views: dict[str, Any] = {}
    if path.suffix == ".npy":
        z = np.load(path)
    elif path.suffix == ".npz":
        data = np.load(path)
        key = "z" if "z" in data else "semantic" if "semantic" in data else None
        if key is None:
            raise CLIError(f"{path} needs an array named 'z' (semantic embeddings)")
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
            raise CLIError(f"{path} must hold a tensor or a dict with 'z' (and 'views')")
    else:
        raise CLIError(f"embeddings must be .npy, .npz or .pt, got {path.name}")
    return z, views


def _families(text: str) -> list[str]:
    from manifold.augment import FAMILIES

    fams = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in fams if f not in FAMILIES]
    if unknown:
        raise CLIError(f"unknown augmentation family {unknown[0]!r}; known: {', '.join(FAMILIES)}")
    return fams


def _write_outputs(prof: Any, out: Path, spectra: dict | None, title: str, notes: list[str]):
    from manifold.report import write_report

    out.mkdir(parents=True, exist_ok=True)
    prof.save(out / "profile.csv")
    prof.to_matrix().to_csv(out / "metrics_matrix.csv")
    report = write_report(prof, out / "report.html", spectra=spectra, title=title, notes=notes)
    return report


def cmd_profile(args: argparse.Namespace) -> int:
    from manifold.profiling import profile

    out = Path(args.out)
    if args.embeddings:
        z, views = _load_embeddings(Path(args.embeddings))
        fams = _families(args.families) if args.families else None
        if fams:
            missing = [f for f in fams if f not in views]
            if missing:
                raise CLIError(f"{args.embeddings} has no views for {missing}")
            views = {f: views[f] for f in fams}
        prof = profile(
            z,
            views=views,
            k=args.k,
            seed=args.seed,
            name=args.name or "embeddings",
            progress=not args.quiet,
        )
    else:
        if not args.model:
            raise CLIError("give --model or --embeddings")
        fams = _families(args.families)
        images = _load_images(args.data, args.n_images, args.seed)
        model = _load_model(args.model, args.device)
        prof = profile(
            model,
            images,
            families=fams,
            n_views=args.n_views,
            k=args.k,
            seed=args.seed,
            name=args.name or args.model,
            device=args.device,
            progress=not args.quiet,
        )
    report = _write_outputs(prof, out, None, f"manifold profile: {prof.models[0]}", [])
    print(f"wrote {out / 'profile.csv'} and {report}")
    for f in prof.failures:
        print(f"note: {f['manifold']}/{f['metric']} not computed: {f['error']}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import torch

    from manifold.datasets import efficientnet_lite0, load_zoo
    from manifold.embed import Embedder
    from manifold.profiling import Profile, profile
    from manifold.spectral import spectrum

    started = time.time()
    n_images = args.n_images or (150 if args.quick else 500)
    n_views = args.n_views or (4 if args.quick else 8)
    fams = _families(args.families)
    images = _load_images("mnist", n_images, args.seed)
    zoo, manifest = load_zoo(device=args.device)
    names = list(zoo)
    if args.quick:
        keep = []
        for method in dict.fromkeys(manifest["method"]):
            keep.append(manifest.index[manifest["method"] == method][0])
        names = keep[:4]
    models: dict[str, torch.nn.Module] = {n: zoo[n] for n in names}
    if not args.quick:
        models["efficientnet-lite0"] = efficientnet_lite0(device=args.device)
    print(
        f"manifold demo: {len(models)} models x {len(fams)} families, {n_images} MNIST test "
        f"images, {n_views} views each, k={args.k}"
    )
    profiles, spectra = [], {}
    for name, model in models.items():
        t0 = time.time()
        try:
            prof = profile(
                model,
                images,
                families=fams,
                n_views=n_views,
                k=args.k,
                seed=args.seed,
                name=name,
                device=args.device,
                progress=not args.quiet,
            )
        except Exception as err:  # noqa: BLE001 - one broken model must not stop the others
            print(f"  {name}: failed ({type(err).__name__}: {err})")
            continue
        profiles.append(prof)
        spectra[name] = spectrum(Embedder(model, progress=False).embed(images))
        print(f"  {name}: {time.time() - t0:.1f} s")
    if not profiles:
        raise CLIError("every model failed; rerun with --verbose")
    prof = Profile.concat(profiles)
    out = Path(args.out)
    notes = [
        f"{len(profiles)} models, {n_images} MNIST test images, {n_views} views per image and "
        f"family, k = {args.k}, seed = {args.seed}; {time.time() - started:.0f} s on "
        f"{args.device or 'cpu'}.",
    ]
    report = _write_outputs(prof, out, spectra, "manifold demo: the bundled MNIST zoo", notes)
    print(f"wrote {out / 'profile.csv'}, {out / 'metrics_matrix.csv'} and {report}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="manifold",
        description="Label-free geometry of learned representations.",
    )
    parser.add_argument("--verbose", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="profile the bundled zoo on bundled MNIST; write a report")
    demo.add_argument("--quick", action="store_true", help="4 models, small sizes (< 1 minute)")
    demo.add_argument("--out", default="manifold-report", help="output folder")
    demo.add_argument("--families", default="crop,color,rotation,flip,blur")
    demo.add_argument("--n-images", type=int, default=None)
    demo.add_argument("--n-views", type=int, default=None)
    demo.add_argument("--k", type=int, default=10)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--device", default=None)
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=cmd_demo)

    prof = sub.add_parser("profile", help="profile one model (or ready embeddings)")
    prof.add_argument("--model", help="zoo:<name>, efficientnet-lite0, model.pt, module.py:fn")
    prof.add_argument("--embeddings", help=".npy (z), .npz (z, views_<family>) or .pt")
    prof.add_argument("--data", default="mnist", help=f"{', '.join(DATASETS)} or a folder")
    prof.add_argument("--families", default="crop,color,rotation,flip,blur")
    prof.add_argument("--n-images", type=int, default=500)
    prof.add_argument("--n-views", type=int, default=8)
    prof.add_argument("--k", type=int, default=10)
    prof.add_argument("--seed", type=int, default=0)
    prof.add_argument("--device", default=None)
    prof.add_argument("--name", default=None, help="model name in the table")
    prof.add_argument("--out", default="manifold-profile", help="output folder")
    prof.add_argument("--quiet", action="store_true")
    prof.set_defaults(func=cmd_profile)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``manifold`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("manifold: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, TypeError, ImportError, FileNotFoundError) as err:
        if args.verbose:
            raise
        print(f"manifold: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
