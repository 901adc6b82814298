"""Mutation testing by hand: seed realistic bugs one at a time and check that a test fails.

Each mutant replaces one exact piece of source text in the package (a formula, an option that
is not passed on, a graph handed to the wrong metric, a seed reused, ...) and names the test
files that should catch it. The script copies the package and its tests to a temporary folder,
runs the unmutated tests there once (they must pass), then for each mutant writes the mutated
file into the copy, runs ``pytest -x`` on the named tests with a timeout, and restores the file.
The working tree is never edited.

A mutant is *killed* when its tests fail (or time out), and *survives* when they pass. A
survivor is either a missing test (write one) or an equivalent mutant (the change cannot alter
any result); known equivalents are listed in ``EQUIVALENT`` with the reason, and reported
apart.

Usage (from the repository root; 6 to 10 minutes on 2 cores)::

    OMP_NUM_THREADS=1 python scripts/mutants.py            # every mutant
    python scripts/mutants.py --list                        # the catalogue
    python scripts/mutants.py lidar-low-rank-zero-mass ...  # some mutants, by id
    python scripts/mutants.py --jobs 2                      # two mutants at a time

The exit status is 0 when every non-equivalent mutant is killed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What the copy needs to import the package and run its tests.
COPY = ("manifold", "tests", "pyproject.toml", "README.md")


@dataclass(frozen=True)
class Mutant:
    """One seeded bug: replace ``old`` (which must occur exactly once) by ``new`` in ``path``."""

    id: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    what: str


def m(id: str, path: str, old: str, new: str, tests: str, what: str) -> Mutant:
    """A mutant of ``manifold/<path>``; ``tests`` is a space-separated list of test files."""
    return Mutant(id, f"manifold/{path}", old, new, tuple(tests.split()), what)


W = "tests/test_wiring.py"
R = "tests/test_routes.py"
TR = "tests/test_transfer_reference.py"

MUTANTS = [
    # -- the seven bugs of issue 19 --------------------------------------------------------
    m(
        "transfer-screen-outside-lomo",
        "zoo/_ridge.py",
        """    for f, test in enumerate(folds):
        mask = np.ones(n, dtype=bool)
        mask[test] = False
        inner = None if groups is None else groups[mask]
        fit = fit_task(x[mask], y[mask], alphas, max_features, cv, inner)
        pred[test] = fit.predict(x[test])
        coefs[f, fit.columns] = fit.coef""",
        """    keep = np.arange(p)
    if max_features is not None and max_features < p:
        xs_all, _, _ = standardise(x)
        corr = np.abs(xs_all.T @ ((y - y.mean()) / y.std())) / n
        keep = np.sort(np.argsort(-corr, kind="stable")[:max_features])
    for f, test in enumerate(folds):
        mask = np.ones(n, dtype=bool)
        mask[test] = False
        inner = None if groups is None else groups[mask]
        fit = fit_task(x[mask][:, keep], y[mask], alphas, None, cv, inner)
        pred[test] = fit.predict(x[test][:, keep])
        coefs[f, keep[fit.columns]] = fit.coef""",
        f"{W} tests/test_transfer.py tests/test_transfer_reference.py",
        "issue 19 #1: feature screening on all models, outside the held-out folds of lomo",
    ),
    m(
        "runner-fingerprint-ignores-n-views",
        "runner.py",
        "name: _fingerprint(settings, images,",
        'name: _fingerprint({**settings, "n_views": 0}, images,',
        W,
        "issue 19 #2: the checkpoint fingerprint ignores n_views",
    ),
    m(
        "profile-mle-on-the-k-graph",
        "engine.py",
        "return mle_dimension(ctx.mle_knn, k=ctx.k_mle)",
        "return mle_dimension(ctx.knn, k=ctx.knn.k)",
        f"{W} tests/test_profile.py tests/test_engine.py",
        "issue 19 #3: the engine's MLE dimension on the k-neighbour graph, not min(20, N - 1)",
    ),
    m(
        "augment-coupled-stage-streams",
        "augment.py",
        "x = _apply_stage(stage, x, n_views, seeds[:, s], seed_all, keep)",
        "x = _apply_stage(stage, x, n_views, seeds[:, 0], seed_all, keep)",
        f"{W} tests/test_augment.py",
        "issue 19 #4: every stage of a family draws from the same random stream",
    ),
    m(
        "same-source-count-by-degree",
        "metrics/invariance.py",
        "norm = np.minimum(degree, n_views - 1)",
        "norm = degree",
        f"{W} tests/test_invariance.py",
        "issue 19 #5: count weighting normalised by the degree, not min(degree, K - 1)",
    ),
    m(
        "lidar-low-rank-zero-mass",
        "spectral/lidar.py",
        "return _entropy_rank(lam, eps, dim - n)",
        "return _entropy_rank(lam, eps, 0)",
        f"{W} tests/test_spectral.py",
        "issue 19 #6: LiDAR's N·K < D route drops the eps mass of the D - N zero eigenvalues",
    ),
    m(
        "local-dimension-threshold-on-s",
        "graphs/neighbourhood.py",
        "variance = singular**2",
        "variance = singular",
        f"{W} tests/test_local_geometry.py",
        "issue 19 #7: the shared local-PCA rule (pca_dimension) thresholds singular values, "
        "not variances",
    ),
    # -- spectral ---------------------------------------------------------------------------
    m(
        "rankme-without-eps",
        "_spectrum.py",
        "p = values / total + eps",
        "p = values / total",
        "tests/test_spectral.py",
        "RankMe without its epsilon",
    ),
    m(
        "rankme-eps-not-passed",
        "spectral/rank.py",
        "return spectrum(z, max_samples=max_samples, seed=seed).rankme(eps)",
        "return spectrum(z, max_samples=max_samples, seed=seed).rankme()",
        "tests/test_spectral.py",
        "rankme(eps=...) ignored",
    ),
    m(
        "stable-rank-not-squared",
        "_spectrum.py",
        "sq = (singular_values / top) ** 2",
        "sq = singular_values / top",
        "tests/test_spectral.py",
        "stable rank from σ instead of σ²",
    ),
    m(
        "participation-ratio-numerator",
        "_spectrum.py",
        "scaled.sum() ** 2 / np.sum(scaled**2)",
        "scaled.sum() / np.sum(scaled**2)",
        "tests/test_spectral.py",
        "participation ratio without the square of the trace",
    ),
    m(
        "nesum-skips-first",
        "_spectrum.py",
        "return float(np.sum(eigenvalues / eigenvalues[0]))",
        "return float(np.sum(eigenvalues[1:] / eigenvalues[0]))",
        "tests/test_spectral.py",
        "NESum leaves out λ_1",
    ),
    m(
        "alpha-unweighted-fit",
        "_spectrum.py",
        "w = 1.0 / ranks",
        "w = np.ones_like(ranks)",
        "tests/test_spectral.py",
        "alpha fitted without the 1/n weights",
    ),
    m(
        "alpha-ranks-off-by-one",
        "_spectrum.py",
        "y = np.log(eigenvalues[lo - 1 : last])",
        "y = np.log(eigenvalues[lo : last + 1])",
        "tests/test_spectral.py",
        "alpha pairs rank n with λ_(n+1)",
    ),
    m(
        "covariance-divides-by-n",
        "spectral/_decomposition.py",
        "eig = _clean_eigenvalues(scatter / (n - 1), n, dim, min(n - 1, dim))",
        "eig = _clean_eigenvalues(scatter / n, n, dim, min(n - 1, dim))",
        "tests/test_spectral.py",
        "covariance normalised by N instead of N - 1 (Gram route)",
    ),
    m(
        "small-n-route-uncentred",
        "spectral/_decomposition.py",
        "xc = xs - xs.mean(dim=0)",
        "xc = xs",
        f"tests/test_spectral.py {R}",
        "the N < D route forgets to centre the covariance",
    ),
    m(
        "subsample-first-rows",
        "spectral/_decomposition.py",
        "rows = np.sort(numpy_generator(seed).choice(n, size=max_samples, replace=False))",
        "rows = np.arange(max_samples)",
        f"tests/test_spectral.py {R}",
        "max_samples keeps the first rows instead of a seeded uniform subset",
    ),
    m(
        "reservoir-off-by-one",
        "spectral/_decomposition.py",
        "highs = np.arange(seen + take, seen + t.shape[0]) + 1",
        "highs = np.arange(seen + take, seen + t.shape[0])",
        f"tests/test_spectral.py {R}",
        "Algorithm R draws slots from U{0..i-1}: later rows under-sampled",
    ),
    m(
        "lidar-within-divides-by-nk",
        "spectral/lidar.py",
        "sigma_w = symmetric_part(within / (n * (n_views - 1)))",
        "sigma_w = symmetric_part(within / (n * n_views))",
        f"{W} tests/test_spectral.py",
        "LiDAR's within-image covariance normalised by N·K, not N·(K - 1)",
    ),
    m(
        "lidar-low-rank-between-by-n",
        "spectral/lidar.py",
        "b = (mu - mu.mean(dim=0)) / (n - 1) ** 0.5",
        "b = (mu - mu.mean(dim=0)) / n**0.5",
        f"{W} tests/test_spectral.py",
        "LiDAR's low-rank route normalises Σ_b by N",
    ),
    # -- dimension --------------------------------------------------------------------------
    m(
        "twonn-empirical-cdf-by-kept",
        "metrics/dimension.py",
        "y = -np.log1p(-np.arange(1, n_keep + 1) / n_total)",
        "y = -np.log1p(-np.arange(1, n_keep + 1) / (n_keep + 1))",
        "tests/test_dimension.py",
        "TwoNN's empirical CDF over the kept ratios instead of all N",
    ),
    m(
        "twonn-mle-uncensored",
        "metrics/dimension.py",
        "denominator = log_mu.sum() + (n_total - n_keep) * log_mu[-1]",
        "denominator = log_mu.sum()",
        "tests/test_dimension.py",
        "TwoNN method='mle' without the censored ratios",
    ),
    m(
        "mle-numerator-ignored",
        "metrics/dimension.py",
        'offset = 2 if numerator == "k-2" else 1',
        "offset = 1",
        "tests/test_dimension.py",
        "mle_dimension(numerator='k-2') (and the deprecated unbiased=True) ignored",
    ),
    m(
        "mle-arithmetic-mean",
        "metrics/dimension.py",
        "global_estimate = float(1.0 / inverse.mean())",
        "global_estimate = float((1.0 / inverse).mean())",
        "tests/test_dimension.py",
        "MLE combined by the mean of estimates, not MacKay-Ghahramani",
    ),
    # -- local geometry ---------------------------------------------------------------------
    m(
        "diameter-pairs-or",
        "graphs/neighbourhood.py",
        "pair = mask[:, :, None] & mask[:, None, :]",
        "pair = mask[:, :, None] | mask[:, None, :]",
        f"tests/test_local_geometry.py {R}",
        "the shared neighbourhood diameter counts pruned candidates as pair ends",
    ),
    m(
        "subspace-partner-nearest",
        "metrics/local.py",
        "best = np.argmax(weights, axis=1)",
        "best = np.zeros(len(weights), dtype=np.int64)",
        f"tests/test_local_geometry.py {R}",
        "subspace angles against the nearest candidate, not the strongest NNK neighbour",
    ),
    m(
        "subspace-n-components-ignored",
        "metrics/local.py",
        "torch.full_like(dims, n_components), torch.minimum(rank, rank[partner])",
        "dims, torch.minimum(rank, rank[partner])",
        f"tests/test_local_geometry.py {R}",
        "subspace_angles(n_components=...) ignored",
    ),
    # -- invariance -------------------------------------------------------------------------
    m(
        "spread-scale-first-neighbour",
        "metrics/invariance.py",
        "return float(np.median(knn.distances[:, -1]))",
        "return float(np.median(knn.distances[:, 0]))",
        "tests/test_invariance.py",
        "semantic scale from the first neighbour instead of the k-th",
    ),
    m(
        "alignment-unnormalised",
        "metrics/invariance.py",
        "u = v / norms",
        "u = v",
        "tests/test_invariance.py",
        "alignment on raw instead of L2-normalised embeddings",
    ),
    m(
        "centre-on-first-view",
        "metrics/invariance.py",
        "return d - d.mean(dim=1, keepdim=True)",
        "return d",
        "tests/test_invariance.py",
        "views centred on their first view instead of their centroid",
    ),
    m(
        "diameter-ratio-fallback-one",
        "metrics/invariance.py",
        "diameters = np.where(positive, diameters, np.median(diameters[positive]))",
        "diameters = np.where(positive, diameters, 1.0)",
        f"tests/test_invariance.py {R}",
        "a zero semantic NNK diameter falls back to 1, not the median diameter",
    ),
    m(
        "tangent-unmasked-candidates",
        "metrics/invariance.py",
        "offsets = torch.where(mask[start:stop, :, None], offsets,",
        "offsets = torch.where(torch.ones_like(mask[start:stop, :, None]), offsets,",
        f"tests/test_invariance.py {R}",
        "tangent alignment on all kNN candidates, not the NNK neighbours",
    ),
    m(
        "augmentation-dimension-threshold-ignored",
        "metrics/invariance.py",
        "out[start : start + _CHUNK] = pca_dimension(s, threshold).cpu()",
        "out[start : start + _CHUNK] = pca_dimension(s, 0.1).cpu()",
        f"{W} tests/test_invariance.py",
        "augmentation_dimension(threshold=...) ignored",
    ),
    # -- ricci ------------------------------------------------------------------------------
    m(
        "ollivier-alpha-ignored",
        "metrics/ricci.py",
        "mass = np.concatenate([np.full((len(nodes), 1), alpha),",
        "mass = np.concatenate([np.full((len(nodes), 1), 0.5),",
        "tests/test_ricci.py",
        "ollivier_ricci(alpha=...) ignored: always idleness 0.5",
    ),
    m(
        "ollivier-exp-power-ignored",
        "metrics/ricci.py",
        "base ** (-(data[at] ** exp_power))",
        "base ** (-(data[at] ** 2.0))",
        f"tests/test_ricci.py tests/test_curvature_sign.py {R}",
        "ollivier_ricci(exp_power=...) ignored",
    ),
    m(
        "ollivier-search-radius-short",
        "metrics/ricci.py",
        "return centres, sources, reach[sources] * (1 + 1e-9) + 1e-12",
        "return centres, sources, reach[sources] * 0.5",
        "tests/test_ricci.py",
        "shortest-path searches stop before the transport costs they need",
    ),
    m(
        "forman-unweighted-triangles",
        "metrics/ricci.py",
        "triangles * length\n",
        "triangles\n",
        "tests/test_ricci.py",
        "Forman's triangle term without the edge weight",
    ),
    m(
        "forman-common-wrong-end",
        "metrics/ricci.py",
        "rest_v = all_sum[v] - self_term - common_rev",
        "rest_v = all_sum[v] - self_term - common",
        "tests/test_ricci.py",
        "Forman's triangle sum of the far endpoint taken from the near one",
    ),
    # -- graphs -----------------------------------------------------------------------------
    m(
        "knn-torch-score-scale",
        "graphs/knn.py",
        "score = 2.0 * (q @ xb.T) - base_sq",
        "score = (q @ xb.T) - base_sq",
        "tests/test_knn.py",
        "the torch fallback ranks by <q, x> - |x|² (not -|q - x|²)",
    ),
    m(
        "knn-duplicates-drop-nearest",
        "graphs/knn.py",
        "is_self[no_self, -1] = True",
        "is_self[no_self, 0] = True",
        "tests/test_knn.py",
        "with more than k duplicates the nearest candidate is dropped, not the farthest",
    ),
    m(
        "knn-faiss-ignores-base",
        "graphs/knn.py",
        "xb = xq if base is z else _as_float32_numpy(base, metric)",
        "xb = xq",
        "tests/test_knn.py",
        "the faiss route searches z itself when base= is given",
    ),
    m(
        "nnk-sigma-median",
        "graphs/nnk.py",
        "sigma = float(kth.mean()) / 3.0",
        "sigma = float(np.median(kth)) / 3.0",
        f"tests/test_nnk.py {R}",
        "default bandwidth from the median k-th distance, not the mean",
    ),
    m(
        "nnk-cosine-kernel-unshifted",
        "graphs/nnk.py",
        'k_si[s : s + c] = (0.5 + 0.5 * torch.einsum("bkd,bd->bk", x_s, x_i)).clamp_(0.0, 1.0)',
        'k_si[s : s + c] = torch.einsum("bkd,bd->bk", x_s, x_i).clamp_(0.0, 1.0)',
        f"tests/test_nnk.py {R}",
        "cosine kernel K_Si = cos instead of 1/2 + cos/2",
    ),
    m(
        "nnk-symmetrize-mean-is-max",
        "graphs/nnk.py",
        "out = (directed + directed.T) * 0.5",
        "out = directed.maximum(directed.T)",
        f"tests/test_nnk.py {R}",
        "symmetrize='mean' builds the max",
    ),
    m(
        "nnk-gaussian-on-cosine-graph-unnormalised",
        "graphs/nnk.py",
        'if kernel == "cosine" or metric == "cosine":',
        'if kernel == "cosine":',
        f"tests/test_nnk.py {R}",
        "Gaussian kernel on a cosine kNN graph uses raw, not unit-normalised, points",
    ),
    # -- large ------------------------------------------------------------------------------
    m(
        "anchor-chunk-offset-lost",
        "graphs/anchor.py",
        "idx = np.where(idx >= 0, idx + lo, -1)",
        "idx = np.where(idx >= 0, idx, -1)",
        "tests/test_large.py",
        "streamed kNN forgets the chunk's first row index",
    ),
    m(
        "large-se-without-fpc",
        "engine.py",
        "return float(values.std(ddof=1) / math.sqrt(n) * finite_population_correction(n, "
        "population))",
        "return float(values.std(ddof=1) / math.sqrt(n))",
        f"tests/test_large.py {R}",
        "standard error without the finite-population correction",
    ),
    m(
        "job-views-failure-raised",
        "runner.py",
        "                except VIEW_ERRORS as err:\n                    rec.failures.append(",
        "                except KeyError as err:\n                    rec.failures.append(",
        "tests/test_engine.py",
        "a family whose views fail stops the job (profile_zoo drops the model) instead of "
        "being that family's failure, as in profile",
    ),
    m(
        "large-mle-on-the-k-graph",
        "engine.py",
        "per_point = mle_dimension_pointwise(ctx.mle_knn, k=ctx.k_mle)",
        "per_point = mle_dimension_pointwise(ctx.knn, k=ctx.k)",
        f"tests/test_large.py tests/test_engine.py {R}",
        "profile_large's MLE dimension on the k-neighbour graph, not min(20, N - 1)",
    ),
    m(
        "large-rankme-subset-seed",
        "engine.py",
        "rng = numpy_generator(self.seed)",
        "rng = numpy_generator(self.seed + 1)",
        f"tests/test_large.py {R}",
        "the context's RankMe subset of a RowReader (profile_large) differs from "
        "rankme(z, max_samples, seed)",
    ),
    # -- profile, runner --------------------------------------------------------------------
    m(
        "profile-same-source-count",
        "engine.py",
        '_views_only(_metrics_module("same_source_rate"))',
        'lambda ctx, v: __import__("manifold.metrics")'
        '.metrics.same_source_rate(v, weighting="count")',
        f"{W} tests/test_profile.py",
        "the registry's same-source rate uses the count weighting",
    ),
    m(
        "profile-view-rankme-of-means",
        "engine.py",
        "rankme(views.reshape(-1, views.shape[-1]), max_samples",
        "rankme(views.mean(dim=1), max_samples",
        f"{W} tests/test_profile.py",
        "the registry's per-family RankMe of the view means instead of all views",
    ),
    m(
        "family-rankme-own-cap",
        "engine.py",
        "rankme(views.reshape(-1, views.shape[-1]), max_samples=ctx.max_samples, seed=ctx.seed)",
        "rankme(views.reshape(-1, views.shape[-1]))",
        "tests/test_harness.py",
        "a family's RankMe keeps rankme's default cap and seed, not the profile's",
    ),
    m(
        "bootstrap-family-rankme-seed-zero",
        "_bootstrap.py",
        "numpy_generator(ctx.seed).choice(n * k, cap, replace=False)",
        "numpy_generator(0).choice(n * k, cap, replace=False)",
        "tests/test_bootstrap.py",
        "the family RankMe's replicates resample another subsample than the value's",
    ),
    m(
        "bootstrap-family-rankme-default-cap",
        "_bootstrap.py",
        "cap = ctx.max_samples",
        "cap = 25600",
        "tests/test_bootstrap.py",
        "the family RankMe's replicates ignore the profile's max_samples",
    ),
    m(
        "profile-rankme-seed-fixed",
        "engine.py",
        "return rankme(self.z, max_samples=self.max_samples, seed=self.seed)",
        "return rankme(self.z, max_samples=self.max_samples, seed=0)",
        f"{W} tests/test_profile.py",
        "the context's RankMe subsample (in-memory z) ignores seed",
    ),
    m(
        "profile-nnk-on-the-wide-graph",
        "engine.py",
        "lambda: nnk_graph(self.knn))",
        "lambda: nnk_graph(self.mle_knn))",
        f"{W} tests/test_profile.py tests/test_engine.py",
        "the context's NNK graph built on the wider (MLE) neighbour search, not the k-NN graph",
    ),
    m(
        "family-spread-on-wide-graph",
        "engine.py",
        '_with_semantic("spread_ratio", "knn")',
        '_with_semantic("spread_ratio", "mle_knn")',
        f"{W} tests/test_profile.py",
        (
            "(was runner-family-metrics-on-wide-graph: the runner now shares the engine's "
            "context, so its family jobs cannot pick their own graphs) the registry gives "
            "spread_ratio the wider MLE graph: the semantic scale is the 20th, not the k-th, "
            "neighbour distance"
        ),
    ),
    m(
        "runner-views-seed-fixed",
        "runner.py",
        'n_views=s["n_views"], seed=s["seed"])',
        'n_views=s["n_views"], seed=0)',
        W,
        "the runner draws views with seed 0 whatever seed is given",
    ),
    # -- augment, embed ---------------------------------------------------------------------
    m(
        "augment-seed-by-chunk-position",
        "augment.py",
        "np.random.SeedSequence(base, spawn_key=(i,))",
        "np.random.SeedSequence(base, spawn_key=(i - start,))",
        "tests/test_augment.py",
        "an image's views depend on its position in the chunk (batch-size dependence)",
    ),
    m(
        "stage-params-one-seed",
        "augment.py",
        "        seed_all(int(s))\n        per_image.append",
        "        seed_all(int(seeds[0]))\n        per_image.append",
        "tests/test_augment_sampling.py tests/test_augment.py",
        "every image of a batch is augmented with the first image's parameters",
    ),
    m(
        "embed-cache-key-without-seed",
        "embed.py",
        """n_views=n_views,
                seed=base_seed,
            )
        cached""",
        """n_views=n_views,
            )
        cached""",
        f"tests/test_embed.py {W}",
        "the view cache key leaves out the seed",
    ),
    m(
        "embed-max-pool-is-mean",
        "embed.py",
        "return features.amax(dim=dims)",
        "return features.mean(dim=dims)",
        "tests/test_embed.py",
        "pool='max' averages",
    ),
    # -- zoo analysis -----------------------------------------------------------------------
    m(
        "ridge-loo-plain-residuals",
        "zoo/_ridge.py",
        "loo = (yc[None, :] - fitted) / (1.0 - leverage)",
        "loo = yc[None, :] - fitted",
        "tests/test_transfer.py",
        "penalty chosen by training residuals instead of leave-one-out residuals",
    ),
    m(
        "transfer-predict-unscaled",
        "zoo/_ridge.py",
        "xs = (x[:, self.columns] - self.x_mean) / self.x_scale",
        "xs = x[:, self.columns] - self.x_mean",
        "tests/test_transfer.py",
        "predictions forget to divide new models' metrics by the training scale",
    ),
    m(
        "transfer-p-value-without-plus-one",
        "zoo/evaluation.py",
        'row["p_value"] = (1 + int((perm >= row["spearman"]).sum())) / (1 + n_permutations)',
        'row["p_value"] = int((perm >= row["spearman"]).sum()) / n_permutations',
        f"tests/test_transfer.py {R}",
        "permutation p-value of the Spearman rho without the +1 (can be 0)",
    ),
    m(
        "transfer-intercept-on-z-scale",
        "zoo/transfer.py",
        "est.intercept - float(est.coef @ (est.x_mean / est.x_scale))",
        "est.intercept",
        f"tests/test_transfer.py {R}",
        "intercept_ reported without undoing the metric centring",
    ),
    m(
        "cluster-method-ignored",
        "zoo/clustering.py",
        "    tree = linkage(dist, method=method)",
        '    tree = linkage(dist, method="average")',
        f"tests/test_clustering.py {R}",
        "cluster_models(method=...) ignored",
    ),
    m(
        "cluster-groups-count-ignored",
        "zoo/clustering.py",
        'k, rule = int(aligned.nunique()), "groups"',
        'k, rule = largest_gap_clusters(tree[:, 2]), "groups"',
        f"tests/test_clustering.py {R}",
        "the number of groups does not set the number of clusters",
    ),
    m(
        "mds-uncentred",
        "zoo/clustering.py",
        "b = -0.5 * j @ d2 @ j",
        "b = -0.5 * d2",
        "tests/test_clustering.py",
        "classical MDS without double centring",
    ),
    m(
        "zscore-sample-std",
        "zoo/_matrix.py",
        "std = values.std(axis=0)",
        "std = values.std(axis=0, ddof=1)",
        f"tests/test_clustering.py {R}",
        "z-scores with the sample instead of the population standard deviation",
    ),
    # -- base -------------------------------------------------------------------------------
    m(
        "summary-std-population",
        "_summary.py",
        "std = float(v.std(ddof=1)) if v.size > 1 else 0.0",
        "std = float(v.std()) if v.size > 1 else 0.0",
        f"{W} tests/test_profile.py {R}",
        "per-point summaries report the population standard deviation",
    ),
    m(
        "summary-q95-is-q90",
        "_summary.py",
        "np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])",
        "np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.9])",
        f"{W} {R}",
        "the q95 row holds the 90th percentile",
    ),
    m(
        "seed-from-torch-generator-ignored",
        "_backend.py",
        "return int(torch.randint(0, 2**62, (1,), generator=seed).item())",
        "return 0",
        f"tests/test_augment.py tests/test_spectral.py {R}",
        "a torch.Generator seed always gives seed 0",
    ),
    m(
        "float16-not-upcast",
        "_checks.py",
        'arr = arr.astype(np.float64 if arr.dtype.kind in "iu" else np.float32)',
        'arr = arr.astype(np.float64) if arr.dtype.kind in "iu" else arr',
        "tests/test_checks.py tests/test_spectral.py",
        "float16 numpy input is not upcast",
    ),
    # -- transfer evaluation, clustering, select, bootstrap, factor loader, layer hooks --------
    # (each names the tests that compare the numbers with a computation of their own)
    m(
        "ranking-best-by-prediction",
        "zoo/evaluation.py",
        "best = int(np.argmax(actual))",
        "best = int(np.argmax(predicted))",
        f"{TR} tests/test_transfer.py",
        "regret and top-k measured from the model predicted best, not the best one",
    ),
    m(
        "ranking-order-ascending",
        "zoo/evaluation.py",
        'order = np.argsort(-predicted, kind="stable")',
        'order = np.argsort(predicted, kind="stable")',
        f"{TR} tests/test_transfer.py",
        "regret and top-k take the model predicted worst as the pick",
    ),
    m(
        "top3-is-top2",
        "zoo/evaluation.py",
        'out["top3"] = float(best in order[:3])',
        'out["top3"] = float(best in order[:2])',
        TR,
        "top3 looks at the first two models only",
    ),
    m(
        "regret-sign",
        "zoo/evaluation.py",
        'out["regret"] = float(actual[best] - actual[order[0]])',
        'out["regret"] = float(actual[order[0]] - actual[best])',
        f"{TR} tests/test_transfer.py",
        "regret with its sign flipped (never positive)",
    ),
    m(
        "weighted-tau-one-ranking",
        "zoo/evaluation.py",
        'out["weighted_tau"] = float(weightedtau(actual, predicted).statistic)',
        'out["weighted_tau"] = float(weightedtau(actual, predicted, rank=None).statistic)',
        TR,
        "weighted tau weighs by the actual scores' ranking only, not the average of both",
    ),
    m(
        "r2-about-zero",
        "zoo/evaluation.py",
        "ss_tot = float(((actual - actual.mean()) ** 2).sum())",
        "ss_tot = float((actual**2).sum())",
        f"{TR} tests/test_transfer.py",
        "R² against the sum of squares about 0, not about the mean",
    ),
    m(
        "directed-sign-on-all-models",
        "zoo/evaluation.py",
        "xc, yc = x[mask] - x[mask].mean(), y[mask] - y[mask].mean()",
        "xc, yc = x - x.mean(), y - y.mean()",
        TR,
        "a directed baseline's sign learned with the held-out models' scores (leakage)",
    ),
    m(
        "directed-r2-from-signed-metric",
        "zoo/evaluation.py",
        'fitted[f"directed_{name}"] = plan.ridge(values[:, None], y)',
        'fitted[f"directed_{name}"] = scores[f"directed_{name}"]',
        f"{TR} tests/test_transfer.py",
        "a directed baseline's R² from ±metric instead of its one-metric ridge",
    ),
    m(
        "combined-not-screened",
        "zoo/evaluation.py",
        'scores["combined"] = fitted["combined"] = plan.ridge(combined, y, screen=True)',
        'scores["combined"] = fitted["combined"] = plan.ridge(combined, y)',
        TR,
        "combined (profile + reference) ignores max_features",
    ),
    m(
        "within-mask-ignored",
        "zoo/evaluation.py",
        "return _spearman(both[mask, 0], both[mask, 1])",
        "return _spearman(both[:, 0], both[:, 1])",
        f"{TR} tests/test_transfer_groups.py",
        "models alone in their group (residual 0) take part in the within-group rho",
    ),
    m(
        "within-residuals-of-actual-only",
        "zoo/evaluation.py",
        "both = within_residuals(np.column_stack([y, predicted]), self.groups)",
        "both = np.column_stack([within_residuals(y, self.groups), predicted])",
        f"{TR} tests/test_transfer_groups.py",
        "the within-group rho subtracts the group means from the actual scores only",
    ),
    m(
        "within-interval-mask-ignored",
        "zoo/evaluation.py",
        "within_boot = spearman_over(res_y, res, [idx[mask[idx]] for idx in plan.resamples])",
        "within_boot = spearman_over(res_y, res, plan.resamples)",
        TR,
        "the within-group interval resamples singletons the within-group rho leaves out",
    ),
    m(
        "gain-interval-reversed",
        "zoo/evaluation.py",
        "boot[:, j] - boot[:, r])",
        "boot[:, r] - boot[:, j])",
        f"{TR} tests/test_transfer_groups.py",
        "the gain's interval is that of reference minus combined",
    ),
    m(
        "null-r2-leave-one-model-out",
        "zoo/evaluation.py",
        'row["null_r2"] = _r2(y, mean_lomo(y, plan.folds))',
        'row["null_r2"] = _r2(y, mean_lomo(y))',
        f"{TR} tests/test_transfer.py",
        "null_r2 leaves one model out when the evaluation holds out whole groups",
    ),
    m(
        "within-shuffles-from-the-across-stream",
        "zoo/evaluation.py",
        "shuffled = (permute_within(y, plan.groups, within_rng) for _ in range(n_permutations))",
        "shuffled = (permute_within(y, plan.groups, perm_rng) for _ in range(n_permutations))",
        TR,
        "the within-group shuffles reuse the across-model stream (seed reused)",
    ),
    m(
        "within-shuffles-across-groups",
        "zoo/evaluation.py",
        "shuffled = (permute_within(y, plan.groups, within_rng) for _ in range(n_permutations))",
        "shuffled = (y[within_rng.permutation(y.size)] for _ in range(n_permutations))",
        f"{TR} tests/test_transfer_groups.py",
        "within_p_value's null shuffles the scores across groups",
    ),
    m(
        "p-value-strict-inequality",
        "zoo/evaluation.py",
        'row["p_value"] = (1 + int((perm >= row["spearman"]).sum())) / (1 + n_permutations)',
        'row["p_value"] = (1 + int((perm > row["spearman"]).sum())) / (1 + n_permutations)',
        TR,
        "shuffles that tie with the observed rho are not counted as reaching it",
    ),
    m(
        "within-p-value-strict-inequality",
        "zoo/evaluation.py",
        'hits = int((perm[np.isfinite(perm)] >= row["within_spearman"]).sum())',
        'hits = int((perm[np.isfinite(perm)] > row["within_spearman"]).sum())',
        TR,
        "within-group shuffles that tie with the observed rho are not counted",
    ),
    m(
        "controls-predicted-unscreened",
        "zoo/evaluation.py",
        'out = {"predicted": fit(plan.x, x_controls, screen=True)}',
        'out = {"predicted": fit(plan.x, x_controls)}',
        TR,
        "controls are predicted by a fit that ignores max_features",
    ),
    m(
        "controls-inner-folds-split-groups",
        "zoo/evaluation.py",
        "                         plan.cv, plan.inner_groups)  # fmt: skip",
        "                         plan.cv, None)  # fmt: skip",
        TR,
        "the controls' fit chooses its penalty by leave-one-model-out in a grouped evaluation",
    ),
    m(
        "controls-combined-columns-swapped",
        "zoo/evaluation.py",
        "np.column_stack([x_controls, reference])",
        "np.column_stack([reference, x_controls])",
        TR,
        "the controls' combined prediction puts the reference where the metrics were fitted",
    ),
    m(
        "bootstrap-as-many-groups-as-models",
        "zoo/_evaluation.py",
        "draws = rng.integers(0, len(labels), size=(n_bootstrap, len(labels)))",
        "draws = rng.integers(0, len(labels), size=(n_bootstrap, n))",
        f"{TR} tests/test_transfer_groups.py",
        "the cluster bootstrap draws as many groups as there are models",
    ),
    m(
        "spearman-over-uncentred-ranks",
        "zoo/_evaluation.py",
        "    return r - r.mean(axis=0)",
        "    return r",
        f"{TR} tests/test_transfer.py",
        "the resampled rho from uncentred ranks",
    ),
    m(
        "percentile-interval-one-tail",
        "zoo/_evaluation.py",
        "tail = 100 * (1 - confidence) / 2",
        "tail = 100 * (1 - confidence)",
        f"{TR} tests/test_transfer.py",
        "a 90 % interval reported as 95 %",
    ),
    m(
        "bootstrap-groups-mapping-ignored",
        "zoo/transfer.py",
        'boot_groups = _group_values(bootstrap_groups, models, "bootstrap_groups")',
        "boot_groups = group_values",
        TR,
        "evaluate(bootstrap_groups=<mapping>) resamples the evaluation's groups instead",
    ),
    m(
        "bootstrap-groups-false-ignored",
        "zoo/transfer.py",
        "boot_groups = group_values if bootstrap_groups else None",
        "boot_groups = group_values",
        TR,
        "evaluate(bootstrap_groups=False) still resamples whole groups",
    ),
    m(
        "hold-out-model-ignored",
        "zoo/transfer.py",
        'folds = held_out_sets(len(y), group_values if hold_out == "group" else None)',
        "folds = held_out_sets(len(y), group_values)",
        TR,
        "evaluate(groups=..., hold_out='model') holds out whole groups",
    ),
    m(
        "hold-out-model-inner-groups",
        "zoo/transfer.py",
        'inner_groups=group_values if hold_out == "group" else None,',
        "inner_groups=group_values,",
        TR,
        "with hold_out='model' the inner folds still keep groups whole",
    ),
    m(
        "statistic-ignored-by-fit",
        "zoo/transfer.py",
        "        x = as_matrix(profiles, statistic=self.statistic, metrics=self.features)",
        "        x = as_matrix(profiles, statistic='mean', metrics=self.features)",
        TR,
        "TransferPredictor(statistic=...) ignored when fitting",
    ),
    m(
        "correlation-interval-ranks-of-the-full-sample",
        "zoo/transfer.py",
        "r = rankdata(values[idx], axis=1)",
        "r = rankdata(values, axis=0)[idx]",
        TR,
        "metric_correlations' resampled rho ranks the full sample, not the resample",
    ),
    m(
        "correlation-interval-confidence-ignored",
        "zoo/transfer.py",
        "    tail = 100 * (1 - confidence) / 2\n    low = np.nanpercentile",
        "    tail = 2.5\n    low = np.nanpercentile",
        TR,
        "metric_correlations(confidence=...) ignored",
    ),
    m(
        "drivers-sign-agreement-of-screened-out",
        "zoo/transfer.py",
        "mean(axis=0)\n                * (coef != 0),",
        "mean(axis=0),",
        TR,
        "a metric screened out of the full fit counts its zero folds as agreeing in sign",
    ),
    m(
        "standardise-sample-std",
        "zoo/_ridge.py",
        "    std = x.std(axis=0)\n    scale",
        "    std = x.std(axis=0, ddof=1)\n    scale",
        f"{TR} tests/test_transfer.py",
        "metrics z-scored with the sample standard deviation: the penalty acts on another scale",
    ),
    m(
        "screening-by-signed-correlation",
        "zoo/_ridge.py",
        "corr = np.abs(xs.T @ ys) / len(ys)",
        "corr = xs.T @ ys / len(ys)",
        f"{TR} tests/test_transfer.py",
        "screening keeps the most positively correlated metrics, never the negative ones",
    ),
    m(
        "group-errors-diagonal-only",
        "zoo/_ridge.py",
        "block = np.eye(idx.size) - hat[np.ix_(idx, idx)]",
        "block = np.diag(1.0 - np.diag(hat)[idx])",
        f"{TR} tests/test_transfer.py",
        "leave-one-group-out errors from the leave-one-out formula (group-mates ignored)",
    ),
    m(
        "inner-kfold-ignores-groups",
        "zoo/_ridge.py",
        "return list(GroupKFold(n_splits=int(cv)).split(dummy, groups=groups))",
        "return list(KFold(n_splits=int(cv)).split(dummy))",
        TR,
        "cv=<int> in a grouped evaluation splits groups between inner folds",
    ),
    m(
        "splitter-without-groups",
        "zoo/_ridge.py",
        "return list(cv.split(dummy, None, groups))",
        "return list(cv.split(dummy))",
        TR,
        "a splitter given as cv never receives the groups",
    ),
    m(
        "split-errors-last-split-only",
        "zoo/_ridge.py",
        "np.add.at(total.T, test, (y[test][:, None] - pred) ** 2)\n"
        "        np.add.at(count, test, 1.0)",
        "total[:, test] = ((y[test][:, None] - pred) ** 2).T\n        count[test] = 1.0",
        TR,
        "a repeated splitter keeps each model's error of the last split only",
    ),
    m(
        "lomo-inner-folds-split-groups",
        "zoo/_ridge.py",
        "inner = None if groups is None else groups[mask]",
        "inner = None",
        f"{TR} tests/test_transfer_groups.py",
        "the grouped evaluation chooses each fold's penalty by leave-one-model-out",
    ),
    m(
        "null-mean-includes-held-out",
        "zoo/_ridge.py",
        "        pred[test] = y[mask].mean()",
        "        pred[test] = y.mean()",
        f"{TR} tests/test_transfer.py",
        "the intercept-only model sees the held-out scores",
    ),
    m(
        "agreement-cut-at-the-number-of-groups",
        "zoo/clustering.py",
        "                                 n_clusters=result.n_clusters)  # fmt: skip",
        "                                 n_clusters=None)  # fmt: skip",
        "tests/test_clustering_reference.py",
        "cluster_models' NMI and p-values cut at the number of groups, not at n_clusters",
    ),
    m(
        "given-cut-ignored-with-groups",
        "zoo/clustering.py",
        "    if n_clusters is not None:\n        k = n_clusters",
        "    if n_clusters is not None and aligned is None:\n        k = n_clusters",
        "tests/test_clustering_reference.py",
        "cluster_models(groups=..., n_clusters=k) cuts at the number of groups",
    ),
    m(
        "agreement-n-clusters-ignored",
        "zoo/clustering.py",
        "k = n_groups if n_clusters is None else n_clusters",
        "k = n_groups",
        "tests/test_clustering_reference.py",
        "agreement(n_clusters=...) ignored",
    ),
    m(
        "cluster-distance-ignored",
        "zoo/clustering.py",
        "dist = pdist(z, metric=distance)",
        "dist = pdist(z)",
        "tests/test_clustering_reference.py tests/test_clustering.py",
        "cluster_models(distance=...) ignored",
    ),
    m(
        "cluster-statistic-ignored",
        "zoo/clustering.py",
        "frame = as_matrix(profiles, statistic=statistic, metrics=metrics)",
        'frame = as_matrix(profiles, statistic="mean", metrics=metrics)',
        "tests/test_clustering_reference.py tests/test_clustering.py",
        "cluster_models(statistic=...) ignored",
    ),
    m(
        "nearest-neighbour-is-itself",
        "zoo/clustering.py",
        "    np.fill_diagonal(square, np.inf)\n    return np.argmin",
        "    return np.argmin",
        "tests/test_clustering_reference.py tests/test_clustering_within.py",
        "each model's nearest neighbour is itself (nn_rate always 1)",
    ),
    m(
        "strata-shuffles-start-from-global-shuffles",
        "zoo/clustering.py",
        "            shuffled = np.stack([codes] * n_permutations)\n",
        "",
        "tests/test_clustering_reference.py tests/test_clustering_within.py",
        "the within-strata shuffles start from labels already shuffled across strata",
    ),
    m(
        "strata-weighted-equally",
        "zoo/clustering.py",
        "    ari = np.average(np.stack(aris), axis=0, weights=weights)",
        "    ari = np.average(np.stack(aris), axis=0)",
        "tests/test_clustering_reference.py tests/test_clustering_within.py",
        "within_ari averages the strata without their sizes",
    ),
    m(
        "strata-cut-at-all-labels",
        "zoo/clustering.py",
        'parts.append((idx, fcluster(sub, n_labels, criterion="maxclust") - 1))',
        'parts.append((idx, fcluster(sub, len(np.unique(codes)), criterion="maxclust") - 1))',
        "tests/test_clustering_reference.py tests/test_clustering_within.py",
        "each stratum is cut at the number of labels overall, not its own",
    ),
    m(
        "strata-one-model-per-label-kept",
        "zoo/clustering.py",
        "if n_labels < 2 or n_labels == idx.size:",
        "if n_labels < 2:",
        "tests/test_clustering_reference.py tests/test_clustering_within.py",
        "a stratum with one model per label (ARI trivially 1) enters within_ari",
    ),
    m(
        "select-confidence-one-sided",
        "zoo/select.py",
        "z = float(norm.ppf(0.5 + confidence / 2))",
        "z = float(norm.ppf(confidence))",
        "tests/test_select.py",
        "the noise band uses a one-sided quantile",
    ),
    m(
        "select-collapse-strict",
        "zoo/select.py",
        "rank <= collapse_rank",
        "rank < collapse_rank",
        "tests/test_select.py",
        "a RankMe equal to collapse_rank is not treated as collapsed",
    ),
    m(
        "select-statistic-ignored",
        "zoo/select.py",
        "matrix = as_matrix(profiles, statistic=statistic)",
        'matrix = as_matrix(profiles, statistic="mean")',
        "tests/test_select.py",
        "select(statistic=...) ignored",
    ),
    m(
        "select-task-ignored",
        "zoo/select.py",
        "score[usable] = by.predict(matrix.loc[usable, names])[task]",
        "score[usable] = by.predict(matrix.loc[usable, names])[by.tasks_[0]]",
        "tests/test_select.py",
        "select(task=...) ranks by the predictor's first task",
    ),
    m(
        "bootstrap-se-population",
        "_bootstrap.py",
        'rec.add(manifold, metric, float(finite.std(ddof=1)), statistic="se")',
        'rec.add(manifold, metric, float(finite.std()), statistic="se")',
        "tests/test_bootstrap_resamples.py",
        "standard errors with ddof = 0",
    ),
    m(
        "bootstrap-spread-ratio-not-rescaled",
        "_bootstrap.py",
        'in_unit = rule == "points_in_knn_unit" or (rule == "lengths" and ctx.scale == "knn")',
        'in_unit = rule == "lengths" and ctx.scale == "knn"',
        "tests/test_bootstrap_resamples.py",
        "the spread ratio's replicates keep the full sample's kNN unit",
    ),
    m(
        "bootstrap-unit-ratio-inverted",
        "_bootstrap.py",
        "self._unit_ratio = unit / medians",
        "self._unit_ratio = medians / unit",
        "tests/test_bootstrap_resamples.py",
        "lengths in kNN units rescaled by the inverse of the resample's unit change",
    ),
    m(
        "bootstrap-mle-arithmetic-mean",
        "_bootstrap.py",
        "return list(counts.sum(axis=1) / (counts @ inverse))",
        "return list((counts @ per_point) / counts.sum(axis=1))",
        "tests/test_bootstrap_resamples.py",
        "the MLE replicates average the estimates instead of their inverses",
    ),
    m(
        "bootstrap-twonn-wrong-neighbours",
        "_bootstrap.py",
        "dist = np.asarray(knn.distances, dtype=np.float64)[:, :2]",
        "dist = np.asarray(knn.distances, dtype=np.float64)[:, [0, -1]]",
        "tests/test_bootstrap_resamples.py",
        "TwoNN replicates from the first and the k-th distances",
    ),
    m(
        "bootstrap-lidar-delta-not-relative",
        "_bootstrap.py",
        "lambda r=rows: lidar(views[r], scale=lidar_scale), np.nan",
        "lambda r=rows: lidar(views[r]), np.nan",
        "tests/test_bootstrap_resamples.py",
        "LiDAR's replicates use the absolute ridge, its value the relative one",
    ),
    m(
        "bootstrap-family-rankme-image-index",
        "_bootstrap.py",
        "image = np.arange(n * k) // k if rows is None else rows // k",
        "image = np.arange(n * k) // k if rows is None else rows % n",
        "tests/test_bootstrap_resamples.py tests/test_bootstrap.py",
        "the capped family RankMe weights each view row by another image's count",
    ),
    m(
        "factor-first-n-digits",
        "datasets/_factor.py",
        "source = np.concatenate([rng.permutation(n_sources) for _ in range(repeats)])[:n]",
        "source = np.arange(n) % n_sources",
        "tests/test_factor_loader.py",
        "load_factor_mnist(n=...) renders the first n source digits (sorted by class)",
    ),
    m(
        "factor-splits-share-a-stream",
        "datasets/_factor.py",
        "rng = np.random.default_rng([seed, _SPLIT_SALT[split]])",
        "rng = np.random.default_rng(seed)",
        "tests/test_factor_loader.py",
        "train and test draw the same factors for the same seed",
    ),
    m(
        "factor-digit-column-misaligned",
        "datasets/_factor.py",
        '"digit": labels.numpy()[source]',
        '"digit": labels.numpy()[np.sort(source)]',
        "tests/test_factor_loader.py",
        "the digit column follows the sources in sorted order, not the images'",
    ),
    m(
        "factor-channels-bgr",
        "datasets/_factor.py",
        "k = (torch.tensor([5.0, 3.0, 1.0]) + hue[:, None] * 6.0) % 6.0",
        "k = (torch.tensor([1.0, 3.0, 5.0]) + hue[:, None] * 6.0) % 6.0",
        "tests/test_factor_loader.py",
        "hues rendered in BGR order: the hue column no longer describes the image",
    ),
    m(
        "sweep-pooled-without-copy",
        "embed.py",
        'self._pooled[name] = feats.detach().to("cpu", torch.float32, copy=True)',
        'self._pooled[name] = feats.detach().to("cpu", torch.float32)',
        "tests/test_layer_hooks.py",
        "a swept 2-D (or flattened) layer is rewritten by the in-place ReLU after it",
    ),
    m(
        "sweep-pool-ignored",
        "embed.py",
        "feats = pool_features(tensor, self.pool)",
        "feats = pool_features(tensor)",
        "tests/test_layer_hooks.py",
        "Embedder(layers=..., pool=...) pools every layer with 'auto'",
    ),
    m(
        "sweep-layer-read-at-last-call",
        "embed.py",
        "if name in self._pooled:  # a module that runs several times",
        "if False:  # a module that runs several times",
        "tests/test_layer_hooks.py",
        "a swept module that runs twice is read at its last call, not its first",
    ),
    m(
        "sweep-views-reshaped-view-major",
        "embed.py",
        "out[name][index] = feats.reshape(b, n_views, -1)",
        "out[name][index] = feats.reshape(n_views, b, -1).transpose(0, 1)",
        "tests/test_layer_hooks.py",
        "a sweep's view features assigned to the wrong images",
    ),
    # the report's and the CLI's verdicts (tests/test_verdicts.py reads them on both sides of
    # every threshold)
    m(
        "verdict-p-strict",
        "report.py",
        "tested = p <= VERDICT_LEVEL",
        "tested = p < VERDICT_LEVEL",
        "tests/test_verdicts.py",
        "p = 0.05 exactly is not called significant",
    ),
    m(
        "verdict-interval-touching-zero",
        "report.py",
        "interval = _finite(lo) and lo > 0",
        "interval = _finite(lo) and lo >= 0",
        "tests/test_verdicts.py",
        "an interval whose lower end is 0 is read as excluding 0",
    ),
    m(
        "verdict-better-one-sided",
        "report.py",
        "if _finite(lo) and _finite(b_hi) and lo > b_rho and b_hi < rho:",
        "if _finite(lo) and lo > b_rho:",
        "tests/test_verdicts.py",
        "'better than a baseline' when only the baseline's rho is below the profile's interval",
    ),
    m(
        "verdict-gain-point-estimate",
        "report.py",
        "    if _finite(lo) and lo > 0:\n        return shown + \": the geometry adds",
        "    if gain > 0:\n        return shown + \": the geometry adds",
        "tests/test_verdicts.py",
        "the geometry 'adds to the reference' whenever the gain is positive, interval or not",
    ),
    m(
        "verdict-within-reads-pooled-p",
        "report.py",
        'p = float(row.get("within_p_value", float("nan")))',
        'p = float(row.get("p_value", float("nan")))',
        "tests/test_verdicts.py",
        "the within-group verdict reads the pooled permutation p-value",
    ),
    m(
        "verdict-weakest-baseline-shown",
        "report.py",
        "best = max(baselines, key=lambda b: transfer_agreement(row, f\"{b}_\")[\"rho\"])",
        "best = min(baselines, key=lambda b: transfer_agreement(row, f\"{b}_\")[\"rho\"])",
        "tests/test_verdicts.py",
        "the verdict shows the weakest baseline beside RankMe, not the strongest",
    ),
    m(
        "headline-within-p-from-pooled",
        "zoo/evaluation.py",
        "f\"(p = {row['within_p_value']:.3f})\")",
        "f\"(p = {row['p_value']:.3f})\")",
        "tests/test_verdicts.py",
        "the CLI's headline prints the pooled p-value as the within-group one",
    ),
]

#: Mutant id -> why it cannot change any result (reported apart, not counted as a survivor).
EQUIVALENT: dict[str, str] = {
    "knn-duplicates-drop-nearest": (
        "the branch runs only when the search returns k + 1 candidates without the query, i.e. "
        "more than k points tie with it at distance 0: exact duplicates, which the float64 "
        "refinement puts at distance exactly 0, so dropping the first or the last leaves k "
        "points with the same coordinates and every metric the same value (only which twin's "
        "index is listed changes). A float32 tie of a non-duplicate with the query would tell "
        "them apart; 200 tries with faiss at |x| ~ 1e4 and offsets ~ 1e-3 never produced one"
    ),
    "float16-not-upcast": (
        "as_tensor casts float16 numpy input to float32 twice: in numpy, then again by the "
        "torch-level rule for low-precision dtypes; without the first cast the second does it"
    ),
}


def _copy_tree(dest: Path) -> None:
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)


def _pytest(cwd: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    env = {**os.environ, "PYTHONPATH": str(cwd), "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONSAFEPATH", None)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    cmd += ["-W", "ignore"]
    started = time.time()
    try:
        done = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.time() - started, ""
    tail = (done.stdout + done.stderr).strip().splitlines()
    last = tail[-1] if tail else ""
    if done.returncode == 0:
        return "passed", time.time() - started, last
    if done.returncode == 1:
        return "failed", time.time() - started, last
    return f"error (exit {done.returncode})", time.time() - started, last


def _check(mutant: Mutant) -> str:
    text = (ROOT / mutant.path).read_text()
    count = text.count(mutant.old)
    if count != 1:
        return f"{mutant.id}: the text to replace occurs {count} times in {mutant.path}"
    missing = [t for t in mutant.tests if not (ROOT / t).exists()]
    if missing:
        return f"{mutant.id}: no test file {missing}"
    return ""


def _run_one(mutant: Mutant, timeout: float) -> tuple[Mutant, str, float, str]:
    with tempfile.TemporaryDirectory(prefix="manifold-mutant-") as tmp:
        work = Path(tmp)
        _copy_tree(work)
        target = work / mutant.path
        target.write_text(target.read_text().replace(mutant.old, mutant.new))
        outcome, seconds, last = _pytest(work, mutant.tests, timeout)
    return mutant, outcome, seconds, last


def main(argv: list[str] | None = None) -> int:
    """Run the chosen mutants and print the kill rate; exit 0 when every one is killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="mutant ids to run (default: all)")
    parser.add_argument("--list", action="store_true", help="print the catalogue and exit")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per mutant")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once")
    args = parser.parse_args(argv)

    by_id = {mu.id: mu for mu in MUTANTS}
    if len(by_id) != len(MUTANTS):
        raise SystemExit("mutant ids must be unique")
    if args.list:
        for mu in MUTANTS:
            print(f"{mu.id:45s} {mu.path:32s} {mu.what}")
        print(f"{len(MUTANTS)} mutants")
        return 0
    unknown = [i for i in args.ids if i not in by_id]
    if unknown:
        raise SystemExit(f"unknown mutant ids: {unknown}")
    chosen = [by_id[i] for i in args.ids] if args.ids else MUTANTS
    problems = [p for p in map(_check, chosen) if p]
    if problems:
        raise SystemExit("catalogue out of date:\n  " + "\n  ".join(problems))

    started = time.time()
    tests = tuple(sorted({t for mu in chosen for t in mu.tests}))
    with tempfile.TemporaryDirectory(prefix="manifold-mutant-") as tmp:
        _copy_tree(Path(tmp))
        outcome, seconds, last = _pytest(Path(tmp), tests, args.timeout * 4)
    print(f"unmutated: {outcome} in {seconds:.0f} s ({last})", flush=True)
    if outcome != "passed":
        print("the tests must pass before mutants mean anything", file=sys.stderr)
        return 2

    results = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for mu, outcome, seconds, last in pool.map(lambda mu: _run_one(mu, args.timeout), chosen):
            status = "killed" if outcome in ("failed", "timeout") else "SURVIVED"
            if outcome.startswith("error"):
                status = "ERROR"
            if status == "SURVIVED" and mu.id in EQUIVALENT:
                status = "equivalent"
            results.append((mu, status))
            print(f"{status:10s} {seconds:5.0f} s  {mu.id:45s} {last}", flush=True)

    killed = sum(s == "killed" for _, s in results)
    equivalent = [mu for mu, s in results if s == "equivalent"]
    counted = len(results) - len(equivalent)
    rate = killed / counted if counted else 1.0
    print(
        f"\n{killed} of {counted} mutants killed ({100 * rate:.1f} %), "
        f"{len(equivalent)} equivalent, in {(time.time() - started) / 60:.1f} min"
    )
    for mu in equivalent:
        print(f"  equivalent: {mu.id}: {EQUIVALENT[mu.id]}")
    for mu, s in results:
        if s in ("SURVIVED", "ERROR"):
            print(f"  {s.lower()}: {mu.id} ({mu.path}): {mu.what}")
    return 0 if killed == counted else 1


if __name__ == "__main__":
    sys.exit(main())
