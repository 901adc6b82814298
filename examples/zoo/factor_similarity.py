"""Direct similarity on the factor zoo: CKA, mutual kNN and Procrustes next to the metric profile.

Embeds the 67 self-supervised factor-zoo encoders on the 500 factor-MNIST test images of
``factor_results.py`` (and, for a second opinion, on the disjoint second draw of
``factor_retest.py``), computes every pairwise similarity with ``manifold.similarity_matrix``
(debiased linear CKA, mutual kNN with k = 10 cosine neighbours, Procrustes) and compares them
with the metric profiles cached in ``docs/factor_zoo_profile.csv`` and
``docs/factor_zoo_profile_retest.csv`` (read, never recomputed: the script stops if a cached
profile is stale), each by its distance between models (1 − S; Euclidean distance between
z-scored metric vectors for the profile):

* **agreement** of the average-linkage tree, cut at each grouping's number of groups, with the
  objective, the augmentation recipe and the seed (ARI and NMI, 999 label permutations);
* **nearest neighbours**: how often a model's nearest other model shares its objective, its
  recipe and its seed, with a permutation p that shuffles the labels only inside strata
  (objective inside each recipe, recipe inside each objective, seed inside each recipe and
  objective), so the null keeps the other groupings' structure;
* **seed pairs** (same recipe and objective, seeds 0 and 1): how many are each other's nearest
  neighbours, how often the partner is the nearest, and the partner's rank, against a null that
  re-pairs the models of each recipe at random;
* the similarity levels of each relation and the permutation calibration of the least similar
  pair.

Numbers go between the ``<!-- begin:similarity ... -->`` markers of section 6 of
docs/zoo-results.md (the section is added before "## Limitations" if missing; the prose around
the markers is written by hand); the heat map goes to docs/figures/factor_similarity.png.

    python examples/zoo/factor_similarity.py      # about 2 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.distance import squareform

from manifold.datasets import load_factor_mnist, load_zoo
from manifold.engine import METRICS_VERSION
from manifold.profiling import DEFAULT_FAMILIES, Profile
from manifold.zoo import cluster_models, similarity_matrix

try:  # run as a script (the folder is on sys.path)
    from factor_results import CACHE, CONTROLS, DOCS, FIGURES, N_IMAGES, N_VIEWS, SEED, K
    from factor_retest import RETEST_CACHE, retest_images
    from pages import cached_zoo_profile, md_table, update_page
except ImportError:  # pragma: no cover - imported as a package module
    from .factor_results import CACHE, CONTROLS, DOCS, FIGURES, N_IMAGES, N_VIEWS, SEED, K
    from .factor_retest import RETEST_CACHE, retest_images
    from .pages import cached_zoo_profile, md_table, update_page

PAGE = DOCS / "zoo-results.md"
SECTION = "## 6. Direct similarity"
#: The direct measures, as (label, similarity_matrix options).
MEASURES = {
    "CKA (debiased)": {"measure": "cka"},
    "mutual kNN (k = 10)": {"measure": "mutual_knn", "k": 10, "metric": "cosine"},
    "Procrustes": {"measure": "procrustes"},
}
GROUPINGS = ("method", "recipe", "seed", "has color")
BLOCKS = ("similarity run", "similarity agreement", "similarity neighbours",
          "similarity seed pairs", "similarity levels")  # fmt: skip


# -- distances between models ----------------------------------------------------------------------
def fresh_profile(models: dict, manifest: pd.DataFrame, images, cache: Path) -> Profile:
    """The cached profile of ``models`` (stop, rather than profile, when the cache is stale)."""
    cached = Profile.load(cache) if cache.exists() else None
    stale = [m for m in models
             if cached is None or m not in cached.settings
             or cached.settings[m].get("sha256") != manifest.loc[m, "sha256"]
             or cached.settings[m].get("metrics_version") != METRICS_VERSION]  # fmt: skip
    if stale:
        raise SystemExit(f"{cache} is missing or stale for {len(stale)} models (e.g. "
                         f"{stale[:3]}); run factor_results.py / factor_retest.py to profile "
                         "them first")  # fmt: skip
    return cached_zoo_profile(models, manifest, images, cache, families=DEFAULT_FAMILIES,
                              n_views=N_VIEWS, k=K, seed=SEED)  # fmt: skip


def representations(models: dict, manifest: pd.DataFrame, images, cache: Path) -> dict:
    """Label -> (ClusterResult, square distance matrix, similarity matrix or None)."""
    names = list(models)
    prof = fresh_profile(models, manifest, images, cache)
    ssl_prof = Profile(prof.table[prof.table["model"].isin(names)].reset_index(drop=True),
                       {m: prof.settings[m] for m in names})  # fmt: skip
    res = cluster_models(ssl_prof, n_permutations=0)
    out = {"metric profile": (res, squareform(res.distances), None)}
    embeddings = {name: _embed(model, images) for name, model in models.items()}
    for label, options in MEASURES.items():
        sim = similarity_matrix(embeddings, **options)
        res = cluster_models(similarity=sim, n_permutations=0)
        out[label] = (res, squareform(res.distances), sim)
    return out


def _embed(model, images):
    from manifold import Embedder

    return Embedder(model, progress=False).embed(images)


# -- statistics on a distance matrix --------------------------------------------------------------
def nearest(dist: np.ndarray) -> np.ndarray:
    """Index of each model's nearest other model (the first on ties)."""
    d = np.array(dist, dtype=float)
    np.fill_diagonal(d, np.inf)
    return np.argmin(d, axis=1)


def _shuffle_within(labels: np.ndarray, strata: list[np.ndarray], rng: np.random.Generator):
    """``labels`` permuted among the indices of each stratum (``strata``: index arrays)."""
    out = labels.copy()
    for where in strata:
        out[where] = labels[rng.permutation(where)]
    return out


def _strata(values: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(values == v) for v in np.unique(values)]


def stratified_rate(nn: np.ndarray, labels: np.ndarray, strata: np.ndarray, n_permutations: int,
                    seed: int) -> dict:  # fmt: skip
    """Share of models whose nearest neighbour shares their label, and its stratified null.

    The null shuffles ``labels`` among the models of each stratum only (the neighbours stay):
    ``chance`` is its mean, ``p = (1 + #{null >= rate}) / (1 + n_permutations)``.
    """
    rate = float(np.mean(labels[nn] == labels))
    if n_permutations == 0:
        return {"rate": rate, "chance": float("nan"), "p": float("nan")}
    rng = np.random.default_rng(seed)
    groups = _strata(strata)
    null = np.empty(n_permutations)
    for b in range(n_permutations):
        shuffled = _shuffle_within(labels, groups, rng)
        null[b] = np.mean(shuffled[nn] == shuffled)
    p = (1 + int(np.sum(null >= rate - 1e-12))) / (1 + n_permutations)
    return {"rate": rate, "chance": float(null.mean()), "p": p}


def training_key(meta: pd.DataFrame) -> pd.Series:
    """Recipe, objective and temperature: what seed partners share (the sweep has no partner)."""
    temperature = meta["temperature"].astype(float).fillna(0.0).map("{:g}".format)
    return meta["recipe"].astype(str) + "/" + meta["method"].astype(str) + "/" + temperature


def seed_pairs(dist: np.ndarray, manifest: pd.DataFrame, names: list[str], n_permutations: int,
               seed: int) -> dict:  # fmt: skip
    """Seed partners (same recipe and objective, seeds 0 and 1) as nearest neighbours.

    ``mutual``: pairs whose two models are each other's nearest neighbour (of ``n_pairs``);
    ``partner_nn``: share of the paired models whose nearest neighbour is the partner;
    ``median_rank``: the partner's median rank among the other models (1 = nearest); ``chance``
    and ``p``: the same share when the paired models of each recipe are re-paired at random
    (a null that keeps every model's recipe and asks for the partner beyond the recipe).
    """
    meta = manifest.loc[names]
    key = training_key(meta)
    counts = key.value_counts()
    paired = [i for i, k in enumerate(key) if counts[k] == 2 and set(meta.loc[key == k, "seed"])
              == {0, 1}]  # fmt: skip
    pair_id = np.full(len(names), -1)
    for i in paired:
        pair_id[i] = list(counts.index).index(key.iloc[i])
    partner = np.full(len(names), -1)
    for i in paired:
        partner[i] = next(j for j in paired if j != i and pair_id[j] == pair_id[i])
    nn = nearest(dist)
    idx = np.array(paired)
    hits = nn[idx] == partner[idx]
    mutual = int(sum(nn[i] == partner[i] and nn[partner[i]] == i for i in paired) // 2)
    d = np.array(dist, dtype=float)
    np.fill_diagonal(d, np.inf)
    ranks = [int((d[i] < d[i, partner[i]]).sum()) + 1 for i in paired]
    recipe = _strata(meta["recipe"].astype(str).to_numpy()[idx])
    rng = np.random.default_rng(seed)
    null = np.empty(n_permutations)
    for b in range(n_permutations):
        ids = pair_id.copy()
        ids[idx] = _shuffle_within(pair_id[idx], recipe, rng)
        same = ids[nn[idx]] == ids[idx]
        null[b] = np.mean(same & (nn[idx] != idx))
    rate = float(hits.mean())
    return {"n_pairs": len(paired) // 2, "mutual": mutual, "partner_nn": rate,
            "chance": float(null.mean()), "p": (1 + int(np.sum(null >= rate - 1e-12))) /
            (1 + n_permutations), "median_rank": float(np.median(ranks)),
            "rank_q1": float(np.percentile(ranks, 25)),
            "rank_q3": float(np.percentile(ranks, 75))}  # fmt: skip


def relation_levels(sim: pd.DataFrame, manifest: pd.DataFrame) -> pd.Series:
    """Mean similarity (number of pairs) of the pairs sharing or not recipe, objective and seed.

    Pairs of one recipe and objective that differ in temperature (the sweep) are marked so.
    """
    names = list(sim.index)
    meta = manifest.loc[names]
    rows = []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            ma, mb = meta.iloc[a], meta.iloc[b]
            parts = [("same " if ma[c] == mb[c] else "other ") + what
                     for c, what in (("recipe", "recipe"), ("method", "objective"),
                                     ("seed", "seed"))]  # fmt: skip
            relation = ", ".join(parts)
            if parts[0].startswith("same") and parts[1].startswith("same") and (
                    str(ma["temperature"]) != str(mb["temperature"])):  # fmt: skip
                relation += " (other temperature)"
            rows.append((relation, sim.iat[a, b]))
    frame = pd.DataFrame(rows, columns=["relation", "value"])
    grouped = frame.groupby("relation")["value"]
    summary = grouped.mean().map("{:.3f}".format) + " (" + grouped.size().astype(str) + ")"
    # recipe, then objective, then seed: shared first
    order = sorted(summary.index, key=lambda r: [part.startswith("other") for part in
                                                 r.split(", ")] + ["temperature" in r])  # fmt: skip
    return summary.loc[order]


# -- the page -------------------------------------------------------------------------------------
def ensure_section(page: Path) -> None:
    """Add section 6 (a heading and empty blocks) before "## Limitations" if it is missing."""
    text = page.read_text()
    if f"<!-- begin:{BLOCKS[0]} -->" in text:
        return
    body = "\n\n".join(f"<!-- begin:{name} -->\n<!-- end:{name} -->" for name in BLOCKS)
    section = f"{SECTION}\n\n{body}\n\n"
    head, sep, tail = text.partition("## Limitations")
    page.write_text(head + section + sep + tail if sep else text + "\n" + section)


def analyse(n_permutations: int) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    t0 = time.time()
    models, manifest = load_zoo()
    ssl = [m for m in models if manifest.loc[m, "method"] not in CONTROLS]
    models = {m: models[m] for m in ssl}
    draws = {
        "first draw": load_factor_mnist("test", n=N_IMAGES, seed=SEED)[0],
        "second draw": retest_images(),
    }
    caches = {"first draw": CACHE, "second draw": RETEST_CACHE}
    reps = {draw: representations(models, manifest, x, caches[draw]) for draw, x in draws.items()}
    meta = manifest.loc[ssl].copy()
    meta["has color"] = meta["recipe"].str.split("+").apply(lambda r: "color" in r)
    blocks: dict[str, str] = {}
    n_first = len(draws["first draw"])
    blocks["similarity run"] = (
        f"{len(ssl)} self-supervised models; first draw: the {n_first} factor-MNIST test images "
        f"of sections 1-4 (seed {SEED}); second draw: the {len(draws['second draw'])} disjoint "
        "images of section 5. Profiles: the cached ones of those sections (z-scored metrics, "
        "Euclidean distance); direct measures from `similarity_matrix` on the encoders' 64-d "
        "outputs (distance 1 − S). Average linkage throughout; permutations: 999 (agreement), "
        f"{n_permutations} (nearest neighbours, seed pairs)."
    )

    rows = []
    for label in reps["first draw"]:
        for key in GROUPINGS:
            groups = meta[key].astype(str)
            first = reps["first draw"][label][0].agreement(groups, n_permutations=999, seed=SEED)
            second = reps["second draw"][label][0].agreement(groups, n_permutations=0)
            rows.append({"representation": label, "grouping": key, "ARI": first["ari"],
                         "ARI p": first["ari_p_value"], "NMI": first["nmi"],
                         "NMI p": first["nmi_p_value"],
                         "ARI, 2nd draw": second["ari"]})  # fmt: skip
    blocks["similarity agreement"] = md_table(
        pd.DataFrame(rows).set_index(["representation", "grouping"]), 3)

    # each label is shuffled inside strata of the others, so that its null keeps their structure
    labels = {
        "objective": (meta["method"].astype(str).to_numpy(), meta["recipe"].astype(str),
                      "recipe"),
        "recipe": (meta["recipe"].astype(str).to_numpy(), meta["method"].astype(str),
                   "objective"),
        "seed": (meta["seed"].astype(str).to_numpy(), training_key(meta),
                 "recipe, objective, temperature"),
    }  # fmt: skip
    rows, seeds = [], []
    for label in reps["first draw"]:
        nn = {draw: nearest(reps[draw][label][1]) for draw in draws}
        for what, (values, strata, within) in labels.items():
            first = stratified_rate(nn["first draw"], values, strata.to_numpy(), n_permutations,
                                    SEED)  # fmt: skip
            second = stratified_rate(nn["second draw"], values, strata.to_numpy(), 0, SEED)
            rows.append({"representation": label, "nearest model shares": what,
                         "rate": first["rate"], "chance": first["chance"],
                         "shuffled within": within, "p": first["p"],
                         "rate, 2nd draw": second["rate"]})  # fmt: skip
        for draw in draws:
            pairs = seed_pairs(reps[draw][label][1], manifest, ssl, n_permutations, SEED)
            seeds.append({"representation": label, "draw": draw,
                          "mutual NN pairs": f"{pairs['mutual']} of {pairs['n_pairs']}",
                          "partner is NN": pairs["partner_nn"], "chance (re-paired in recipe)":
                          pairs["chance"], "p": pairs["p"],
                          "partner rank, median [IQR]": f"{pairs['median_rank']:.0f} "
                          f"[{pairs['rank_q1']:.0f}, {pairs['rank_q3']:.0f}]"})  # fmt: skip
    # the nearest model trained from the same seed with the same loss, on the recipe +- blur
    unblurred = meta["recipe"].str.split("+").apply(
        lambda r: "+".join(f for f in r if f != "blur") or "none").to_numpy()  # fmt: skip
    seed_values, method_values = meta["seed"].to_numpy(), meta["method"].to_numpy()
    recipe_values = meta["recipe"].to_numpy()
    blur = []
    for label in reps["first draw"]:
        nn = nearest(reps["first draw"][label][1])
        hit = ((seed_values[nn] == seed_values) & (method_values[nn] == method_values)
               & (unblurred[nn] == unblurred) & (recipe_values[nn] != recipe_values))  # fmt: skip
        blur.append(f"{label} {int(hit.sum())}")
    blocks["similarity neighbours"] = (
        md_table(pd.DataFrame(rows).set_index(["representation", "nearest model shares"]), 3)
        + "\n\nModels whose nearest neighbour has the same seed and objective and a recipe that "
        f"differs only by blur (of {len(ssl)}, first draw): {'; '.join(blur)}."
    )
    blocks["similarity seed pairs"] = md_table(
        pd.DataFrame(seeds).set_index(["representation", "draw"]), 3)

    levels, calibration = {}, []
    for label in MEASURES:
        sim = reps["first draw"][label][2]
        levels[label] = relation_levels(sim.matrix, manifest)
        worst = sim.table.loc[sim.table["value"].idxmin()]
        check = similarity_matrix(
            {worst["model_a"]: _embed(models[worst["model_a"]], draws["first draw"]),
             worst["model_b"]: _embed(models[worst["model_b"]], draws["first draw"])},
            n_permutations=999, seed=SEED, **MEASURES[label],
        ).table.iloc[0]  # fmt: skip
        calibration.append({"measure": label, "least similar pair":
                            f"{worst['model_a']} ~ {worst['model_b']}", "value": check["value"],
                            "null mean": check["null_mean"], "null sd": check["null_sd"],
                            "p": check["p_value"]})  # fmt: skip
    blocks["similarity levels"] = (
        "Mean similarity of the pairs in each relation (number of pairs), first draw:\n\n"
        + md_table(pd.DataFrame(levels).rename_axis("relation"), 3)
        + "\n\nThe least similar pair of each measure against its permutation null (999 row "
        "shuffles of one side; `similarity(..., n_permutations=999)`):\n\n"
        + md_table(pd.DataFrame(calibration).set_index("measure"), 4)
    )

    FIGURES.mkdir(parents=True, exist_ok=True)
    sim = reps["first draw"]["CKA (debiased)"][2]
    fig = sim.plot(groups=meta["recipe"].str.contains("color").map(
        {True: "with color", False: "without color"}))  # fmt: skip
    fig.savefig(FIGURES / "factor_similarity.png", dpi=90)
    print(f"analysis in {time.time() - t0:.0f} s")
    return blocks


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--permutations", type=int, default=999)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ensure_section(PAGE)
    update_page(PAGE, analyse(args.permutations), "Results on the factor zoo")


if __name__ == "__main__":
    main()
