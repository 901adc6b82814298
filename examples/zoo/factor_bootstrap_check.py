"""Are the bootstrap standard errors right on real models? A check against the test-retest.

``profile(..., n_bootstrap=B)`` gives every value and mean a standard error from resampling the
images (the graphs are not rebuilt, so graph-local means may run low: ``docs/analysis.md``).
``factor_retest.py`` profiled the factor zoo on a second, disjoint draw of 500 images, which
measures the same thing directly: for each model, the difference between the draws has standard
deviation ``sqrt(2)`` times one draw's error. This script profiles the first draw again with
``n_bootstrap=30`` and compares, per metric column over the self-supervised models:

* ``calibration = RMS_m((x_m1 - x_m2) / sqrt(2)) / RMS_m(se_m)``: 1 when the bootstrap error is
  right on average, above 1 when it is too small;
* ``z_within_2``: the share of models whose retest difference lies within ``2 sqrt(2) se_m``
  (about 0.95 when the errors are right and normal);
* ``within_noise``: whether :func:`manifold.cluster_models` flags the column (Cochran's Q over
  the models, p > 0.05), i.e. whether the models' differences in it can be told from noise.

The bootstrap profile is cached in ``docs/factor_zoo_profile_se.csv``; numbers go between the
``<!-- begin:bootstrap check -->`` markers of docs/zoo-results.md.

    python examples/zoo/factor_bootstrap_check.py
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd

from manifold.datasets import load_factor_mnist, load_zoo
from manifold.profiling import DEFAULT_FAMILIES, Profile

try:  # run as a script (the folder is on sys.path)
    from factor_results import CONTROLS, DOCS, N_IMAGES, N_VIEWS, SEED, K
    from factor_retest import RETEST_CACHE
    from pages import cached_zoo_profile, md_table, script_arguments, update_page
except ImportError:  # pragma: no cover - imported as a package module
    from .factor_results import CONTROLS, DOCS, N_IMAGES, N_VIEWS, SEED, K
    from .factor_retest import RETEST_CACHE
    from .pages import cached_zoo_profile, md_table, script_arguments, update_page

SE_CACHE = DOCS / "factor_zoo_profile_se.csv"
N_BOOTSTRAP = 30


def bootstrap_profile() -> Profile:
    models, manifest = load_zoo()
    x, _ = load_factor_mnist("test", n=N_IMAGES, seed=SEED)
    return cached_zoo_profile(models, manifest, x, SE_CACHE, families=DEFAULT_FAMILIES,
                              n_views=N_VIEWS, k=K, seed=SEED,
                              n_bootstrap=N_BOOTSTRAP)  # fmt: skip


def se_matrix(prof: Profile) -> pd.DataFrame:
    """Models x ``manifold/metric`` standard errors (of the value or the mean)."""
    t = prof.table[prof.table["statistic"] == "se"]
    t = t.assign(column=t["manifold"] + "/" + t["metric"])
    return t.pivot_table(index="model", columns="column", values="value", sort=False)


def calibration(first: pd.DataFrame, second: pd.DataFrame, se: pd.DataFrame) -> pd.DataFrame:
    """Per column: the retest error against the bootstrap error (see the module notes)."""
    rows = {}
    for col in first.columns:
        if col not in se.columns or col not in second.columns:
            continue
        d = (first[col] - second[col]).to_numpy() / math.sqrt(2)
        s = se[col].reindex(first.index).to_numpy()
        ok = np.isfinite(d) & np.isfinite(s) & (s > 0)
        if ok.sum() < 3:
            continue
        rows[col] = {
            "calibration": float(np.sqrt(np.mean(d[ok] ** 2)) / np.sqrt(np.mean(s[ok] ** 2))),
            "z_within_2": float(np.mean(np.abs(d[ok]) <= 2 * s[ok])),
            "n_models": int(ok.sum()),
        }
    table = pd.DataFrame.from_dict(rows, orient="index").sort_values("calibration")
    table.index.name = "metric"
    return table


def analyse(with_se: Profile, second: Profile) -> dict[str, str]:
    from manifold.zoo import cluster_models

    _, manifest = load_zoo()
    ssl = [m for m in with_se.models if manifest.loc[m, "method"] not in CONTROLS]
    first, other = with_se.to_matrix("mean").loc[ssl], second.to_matrix("mean").loc[ssl]
    cal = calibration(first, other, se_matrix(with_se))
    ssl_prof = Profile(with_se.table[with_se.table["model"].isin(ssl)].reset_index(drop=True),
                       {m: with_se.settings[m] for m in ssl})  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the flags are reported below
        clusters = cluster_models(ssl_prof)
    noise = clusters.noise
    cal["within_noise"] = noise["within_noise"].reindex(cal.index).fillna(False).astype(bool)
    cal["q_p_value"] = noise["p_value"].reindex(cal.index)
    cal.to_csv(DOCS / "factor_bootstrap_check.csv")
    numbers = {
        "columns": len(cal),
        "median_calibration": round(float(cal["calibration"].median()), 2),
        "calibration_range": [
            round(float(cal["calibration"].min()), 2),
            round(float(cal["calibration"].max()), 2),
        ],  # fmt: skip
        "median_z_within_2": round(float(cal["z_within_2"].median()), 2),
        "within_noise": list(cal.index[cal["within_noise"]]),
    }
    (DOCS / "factor_bootstrap_check.json").write_text(json.dumps(numbers, indent=1) + "\n")
    shown = cal[["calibration", "z_within_2", "q_p_value", "within_noise"]]
    text = (
        f"{len(cal)} metric columns over the {len(ssl)} self-supervised models, bootstrap with "
        f"B = {N_BOOTSTRAP}. Calibration (retest RMS error / bootstrap RMS error): median "
        f"{numbers['median_calibration']:.2f}, range {numbers['calibration_range'][0]:.2f} to "
        f"{numbers['calibration_range'][1]:.2f}; share of models within 2 errors: median "
        f"{numbers['median_z_within_2']:.2f}. Columns flagged within noise by cluster_models: "
        f"{', '.join(numbers['within_noise']) or 'none'}.\n\nThe ten columns whose bootstrap "
        "errors are too small the most (highest calibration), and the ten best calibrated "
        "(lowest):\n\n"
        + md_table(shown.tail(10).iloc[::-1], 2)
        + "\n\n"
        + md_table(shown.head(10), 2)
    )
    return {"bootstrap check": text}


def main() -> None:
    args = script_arguments(__doc__)
    with_se = bootstrap_profile()
    if args.profile_only:
        return
    if not RETEST_CACHE.exists():
        raise SystemExit(f"{RETEST_CACHE} is missing: run examples/zoo/factor_retest.py first")
    blocks = analyse(with_se, Profile.load(RETEST_CACHE))
    update_page(DOCS / "zoo-results.md", blocks, "Results on the factor zoo")


if __name__ == "__main__":
    main()
