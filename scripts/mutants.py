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

MUTANTS = [
    # -- the seven bugs of issue 19 --------------------------------------------------------
    m(
        "transfer-screen-outside-lomo",
        "zoo/transfer.py",
        """    for f, test in enumerate(folds):
        mask = np.ones(n, dtype=bool)
        mask[test] = False
        fit = _fit_task(x[mask], y[mask], alphas, max_features, cv)
        pred[test] = fit.predict(x[test])
        coefs[f, fit.columns] = fit.coef""",
        """    keep = np.arange(p)
    if max_features is not None and max_features < p:
        xs_all, _, _ = _standardise(x)
        corr = np.abs(xs_all.T @ ((y - y.mean()) / y.std())) / n
        keep = np.sort(np.argsort(-corr, kind="stable")[:max_features])
    for f, test in enumerate(folds):
        mask = np.ones(n, dtype=bool)
        mask[test] = False
        fit = _fit_task(x[mask][:, keep], y[mask], alphas, None, cv)
        pred[test] = fit.predict(x[test][:, keep])
        coefs[f, keep[fit.columns]] = fit.coef""",
        f"{W} tests/test_transfer.py",
        "issue 19 #1: feature screening on all models, outside the held-out folds of _lomo",
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
        "spectral/_formulas.py",
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
        "spectral/_formulas.py",
        "sq = (singular_values / top) ** 2",
        "sq = singular_values / top",
        "tests/test_spectral.py",
        "stable rank from σ instead of σ²",
    ),
    m(
        "participation-ratio-numerator",
        "spectral/_formulas.py",
        "scaled.sum() ** 2 / np.sum(scaled**2)",
        "scaled.sum() / np.sum(scaled**2)",
        "tests/test_spectral.py",
        "participation ratio without the square of the trace",
    ),
    m(
        "nesum-skips-first",
        "spectral/_formulas.py",
        "return float(np.sum(eigenvalues / eigenvalues[0]))",
        "return float(np.sum(eigenvalues[1:] / eigenvalues[0]))",
        "tests/test_spectral.py",
        "NESum leaves out λ_1",
    ),
    m(
        "alpha-unweighted-fit",
        "spectral/_formulas.py",
        "w = 1.0 / ranks",
        "w = np.ones_like(ranks)",
        "tests/test_spectral.py",
        "alpha fitted without the 1/n weights",
    ),
    m(
        "alpha-ranks-off-by-one",
        "spectral/_formulas.py",
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
        "per_point = mle_dimension(ctx.mle_knn, k=ctx.k_mle, per_point=True)",
        "per_point = mle_dimension(ctx.knn, k=ctx.k, per_point=True)",
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
        "crop-sampler-wrong-draw",
        "augment.py",
        "x_start = (torch.cat(x_draws) * x_diff).floor()",
        "x_start = (torch.cat(y_draws) * x_diff).floor()",
        "tests/test_augment_sampling.py",
        "the batched crop sampler uses the y draws for x",
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
        "zoo/transfer.py",
        "loo = (yc[None, :] - fitted) / (1.0 - leverage)",
        "loo = yc[None, :] - fitted",
        "tests/test_transfer.py",
        "penalty chosen by training residuals instead of leave-one-out residuals",
    ),
    m(
        "transfer-predict-unscaled",
        "zoo/transfer.py",
        "xs = (x[:, self.columns] - self.x_mean) / self.x_scale",
        "xs = x[:, self.columns] - self.x_mean",
        "tests/test_transfer.py",
        "predictions forget to divide new models' metrics by the training scale",
    ),
    m(
        "transfer-p-value-without-plus-one",
        "zoo/transfer.py",
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
        "tree = linkage(dist, method=method)",
        'tree = linkage(dist, method="average")',
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
