"""Helpers shared by the zoo results scripts: cached zoo profiles and generated page blocks."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from manifold.engine import METRICS_VERSION
from manifold.profiling import Profile, profile

#: The pages and figures the results scripts write.
DOCS = Path(__file__).resolve().parents[2] / "docs"
FIGURES = DOCS / "figures"


def cached_zoo_profile(
    models: dict[str, Any], manifest: pd.DataFrame, images: Any, cache: Path, **options: Any
) -> Profile:
    """Profile every model, reusing ``cache`` for models whose weights' SHA-256 is unchanged
    and whose numbers were computed under the current :data:`~manifold.engine.METRICS_VERSION`.

    The cache is rewritten after each new model (with the spectra of the reused ones), so an
    interrupted run resumes. ``options`` go to :func:`manifold.profile` (families, n_views, k,
    seed). The returned profile holds the models of ``models`` only, with their spectra.
    """
    done = None
    if cache.exists():
        cached = Profile.load(cache)
        sha = manifest["sha256"].to_dict()
        # reused while the weights and the version of the metrics' numbers are unchanged
        fresh = [m for m in cached.models
                 if cached.settings.get(m, {}).get("sha256") == sha.get(m)
                 and cached.settings[m].get("metrics_version") == METRICS_VERSION]  # fmt: skip
        if fresh:
            done = _subset(cached, fresh)
    have = set(done.models) if done is not None else set()
    for name, model in models.items():
        if name in have:
            continue
        t0 = time.time()
        p = profile(model, images, name=name, progress=False, **options)
        p.settings[name]["sha256"] = manifest.loc[name, "sha256"]
        p.settings[name]["method"] = manifest.loc[name, "method"]
        done = p if done is None else Profile.concat([done, p])
        done.save(cache)
        print(f"profiled {name} in {time.time() - t0:.1f} s ({len(p.failures)} failures)")
    return _subset(done, [m for m in done.models if m in models])


def _subset(prof: Profile, keep: list[str]) -> Profile:
    """The rows, settings, failures and spectra of the models ``keep``.

    The spectra are kept too: the cache is rewritten from this profile, and a reused model
    without its spectrum would lose it from the cache's ``.spectra.npz``.
    """
    return Profile(prof.table[prof.table["model"].isin(keep)].reset_index(drop=True),
                   {m: prof.settings[m] for m in keep if m in prof.settings},
                   [f for f in prof.failures if f["model"] in keep],
                   {m: prof.spectra[m] for m in keep if m in prof.spectra})  # fmt: skip


def script_arguments(doc: str) -> argparse.Namespace:
    """The options every factor-zoo results script takes; sets torch's thread count."""
    import torch

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--profile-only", action="store_true")
    parser.add_argument("--permutations", type=int, default=200)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def md_table(frame: pd.DataFrame, digits: int = 2) -> str:
    """A Markdown table (no extra dependency); non-finite floats print as a dash."""
    frame = frame.reset_index()

    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "–" if not np.isfinite(v) else f"{v:.{digits}f}"
        return str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + " --- |" * frame.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def update_page(page: Path, blocks: dict[str, str], title: str) -> None:
    """Replace the ``<!-- begin:NAME -->`` blocks of ``page``; add missing ones at the end.

    The hand-written prose around the blocks is kept; every block is also printed.
    """
    text = page.read_text() if page.exists() else f"# {title}\n"
    for name, body in blocks.items():
        begin, end = f"<!-- begin:{name} -->", f"<!-- end:{name} -->"
        if begin in text:
            head, rest = text.split(begin, 1)
            text = head + begin + "\n" + body.strip() + "\n" + end + rest.split(end, 1)[1]
        else:
            text += f"\n## {name}\n\n{begin}\n{body.strip()}\n{end}\n"
    page.write_text(text)
    for name, body in blocks.items():
        print(f"\n## {name}\n\n{body}")
