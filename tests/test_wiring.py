"""Tests that guard the wiring: each one fails on a bug that leaves every formula test green.

One test per bug of issue 19: leakage of the held-out score into transfer prediction, stale
checkpoints, metric routing in ``profile``, coupled random streams in the augmentations, the
count normalisation of the same-source rate, LiDAR's low-rank route, and the local-PCA variance
rule. Each test uses public API only and derives its expected values independently (closed
forms, scipy/numpy references, or the public function called with the documented arguments).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import torch
from torch import nn

import manifold
from manifold.augment import draw_views, draw_views_with_params, get_family
from manifold.profiling import SEMANTIC
from manifold.runner import profile_zoo
from manifold.zoo import TransferPredictor

# --- 1. transfer prediction: the held-out model's score never reaches its prediction ---------


def _noise_zoo(n_models: int = 16, n_metrics: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    models = [f"m{i:02d}" for i in range(n_models)]
    x = pd.DataFrame(
        rng.normal(size=(n_models, n_metrics)),
        index=models,
        columns=[f"semantic/metric{j:02d}" for j in range(n_metrics)],
    )
    y = pd.DataFrame({"task": rng.normal(size=n_models)}, index=models)
    return x, y


@pytest.mark.filterwarnings("ignore:baseline")
@pytest.mark.parametrize(
    "options",
    [{"max_features": 5}, {}, {"max_features": 3, "cv": 3}],
    ids=["screening", "ridge", "screening-kfold"],
)
def test_held_out_prediction_ignores_the_held_out_score(options):
    x, y = _noise_zoo()
    est = TransferPredictor(**options)
    before = est.evaluate(x, y, n_permutations=0).predictions.set_index("model")
    for i in (0, 9):
        changed = y.copy()
        # a score that correlates with model i's own metric vector: screening on all models
        # (or any other leak) would now pick the metrics where model i is extreme
        changed.iloc[i, 0] = 40.0 * np.sign(x.iloc[i].to_numpy()[np.argmax(np.abs(x.iloc[i]))])
        after = est.evaluate(x, changed, n_permutations=0).predictions.set_index("model")
        model = y.index[i]
        assert after.loc[model, "predicted"] == pytest.approx(
            before.loc[model, "predicted"], rel=1e-12, abs=1e-12
        )
        assert after.loc[model, "mean"] == pytest.approx(before.loc[model, "mean"], abs=1e-12)
        # the other models' predictions do see the new score: the test can tell a change
        others = after.index != model
        assert not np.allclose(after.loc[others, "predicted"], before.loc[others, "predicted"])


# --- 2. checkpoints: a rerun into the same folder with any setting changed = a fresh run -----


def _small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 3), nn.Tanh(), nn.Conv2d(6, 8, 3), nn.Tanh())


def _other_model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 6, 3), nn.Tanh(), nn.Conv2d(6, 8, 3), nn.Tanh())


@pytest.fixture(scope="module")
def small_images():
    return torch.rand((24, 1, 12, 12), generator=torch.Generator().manual_seed(0))


BASE = dict(families=("flip", "rotation"), n_views=3, k=5, seed=0, max_samples=None)


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["model", "manifold", "metric", "statistic"]).reset_index(drop=True)


@pytest.mark.parametrize(
    "change",
    [
        {"n_views": 4},
        {"k": 4},
        {"seed": 1},
        {"max_samples": 12},
        {"families": ("flip", "crop")},
        {"curvature": True},
        {"layer": "1"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_rerun_with_a_changed_setting_equals_a_fresh_run(small_images, tmp_path, change):
    models = {"net": _small_model}
    profile_zoo(models, small_images, checkpoint_dir=tmp_path, progress=False, **BASE)
    settings = {**BASE, **change}
    rerun = profile_zoo(models, small_images, checkpoint_dir=tmp_path, progress=False, **settings)
    fresh = profile_zoo(models, small_images, progress=False, **settings)
    pd.testing.assert_frame_equal(_sorted(rerun.table), _sorted(fresh.table))
    for key, value in change.items():
        recorded = rerun.settings["net"][key]
        assert (list(recorded) if isinstance(value, tuple) else recorded) == (
            list(value) if isinstance(value, tuple) else value
        )


def test_rerun_with_other_images_equals_a_fresh_run(small_images, tmp_path):
    models = {"net": _small_model}
    profile_zoo(models, small_images, checkpoint_dir=tmp_path, progress=False, **BASE)
    other = small_images.flip(-1)
    rerun = profile_zoo(models, other, checkpoint_dir=tmp_path, progress=False, **BASE)
    fresh = profile_zoo(models, other, progress=False, **BASE)
    pd.testing.assert_frame_equal(_sorted(rerun.table), _sorted(fresh.table))


def test_rerun_with_another_model_under_the_same_name_equals_a_fresh_run(small_images, tmp_path):
    profile_zoo(
        {"net": _small_model}, small_images, checkpoint_dir=tmp_path, progress=False, **BASE
    )
    rerun = profile_zoo(
        {"net": _other_model}, small_images, checkpoint_dir=tmp_path, progress=False, **BASE
    )
    fresh = profile_zoo({"net": _other_model}, small_images, progress=False, **BASE)
    pd.testing.assert_frame_equal(_sorted(rerun.table), _sorted(fresh.table))


def test_rerun_with_other_augmentation_parameters_equals_a_fresh_run(small_images, tmp_path):
    import kornia.augmentation as K

    def run(degrees, checkpoint_dir=None):
        settings = {**BASE, "families": (K.RandomAffine(degrees=degrees, p=1.0),)}
        return profile_zoo(
            {"net": _small_model}, small_images, checkpoint_dir=checkpoint_dir, progress=False,
            **settings,
        )  # fmt: skip

    run(5.0, tmp_path)
    pd.testing.assert_frame_equal(_sorted(run(60.0, tmp_path).table), _sorted(run(60.0).table))


@pytest.mark.parametrize(
    "change",
    [{"seed": 1}, {"n_views": 3}, {"family": "crop"}, {"layer": "1"}, {"pool": "max"}],
    ids=lambda c: next(iter(c)),
)
def test_embedding_cache_with_a_changed_argument_equals_a_fresh_run(small_images, tmp_path, change):
    from manifold.embed import Embedder

    def run(args, cache_dir=None):
        embedder = Embedder(
            _small_model(), layer=args["layer"], pool=args["pool"], cache_dir=cache_dir,
            progress=False,
        )  # fmt: skip
        return embedder.embed_views(
            small_images, args["family"], n_views=args["n_views"], seed=args["seed"]
        )

    base = {"seed": 0, "n_views": 2, "family": "rotation", "layer": None, "pool": "avg"}
    run(base, tmp_path)
    changed = {**base, **change}
    torch.testing.assert_close(run(changed, tmp_path), run(changed), rtol=0, atol=0)


# --- 3. profile: every metric equals its public function with the documented arguments -------


@pytest.fixture(scope="module")
def routed():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(70, 9)) * np.linspace(2.0, 0.3, 9)
    v = z[:, None, :] + 0.4 * rng.normal(size=(70, 4, 9))
    k, seed = 6, 0
    prof = manifold.profile(
        z, view_embeddings={"noisy": v}, k=k, seed=seed, curvature=True, name="m", progress=False
    )
    return z, v, k, seed, prof


def _expected_rows(z, v, k, seed, max_samples):
    """(manifold, metric) -> a float or a PointMetric, from the public functions alone."""
    from manifold import metrics

    nnk = manifold.nnk_graph(z, k=k)
    fit = manifold.alpha(z)
    semantic = {
        "rankme": manifold.rankme(z, max_samples=max_samples, seed=seed),
        "effective_rank": manifold.effective_rank(z),
        "stable_rank": manifold.stable_rank(z),
        "participation_ratio": manifold.participation_ratio(z),
        "nesum": manifold.nesum(z),
        "alpha": fit.alpha,
        "alpha_r2": fit.r2,
        # TwoNN reads the first two neighbours; MLE uses Levina & Bickel's k = 20
        "twonn_dimension": metrics.twonn_dimension(z),
        "mle_dimension": metrics.mle_dimension(z, k=20),
        "nnk_degree": metrics.nnk_degree(z, k=k),
        # the documented scale-free forms: lengths in units of the median k-th neighbour distance
        "nnk_diameter": metrics.nnk_diameter(z, k=k, scale="knn"),
        "local_dimension": metrics.local_dimension(z, k=k),
        "subspace_angles": metrics.subspace_angles(z, k=k),
        "ollivier_ricci": manifold.PointMetric(
            "ollivier_ricci",
            [
                d["ricci_curvature"]
                for *_, d in metrics.ollivier_ricci(nnk, scale="knn").edges(data=True)
            ],  # fmt: skip
        ),
        "forman_ricci": manifold.PointMetric(
            "forman_ricci",
            [
                d["forman_curvature"]
                for *_, d in metrics.forman_ricci(nnk, scale="knn").edges(data=True)
            ],  # fmt: skip
        ),
    }
    family = {
        "spread_ratio": metrics.spread_ratio(z, v, k=k),
        "augmentation_diameter_ratio": metrics.augmentation_diameter_ratio(z, v, k=k),
        "same_source_rate": metrics.same_source_rate(v),
        "augmentation_dimension": metrics.augmentation_dimension(v),
        "tangent_alignment": metrics.tangent_alignment(z, v, k=k),
        "lidar": manifold.lidar(v, scale="within"),
        "alignment": metrics.alignment(v),
        "rankme": manifold.rankme(v.reshape(-1, v.shape[-1])),
    }
    out = {(SEMANTIC, m): val for m, val in semantic.items()}
    out.update({("noisy", m): val for m, val in family.items()})
    return out


def _compare_all_rows(table: pd.DataFrame, expected: dict) -> None:
    checked = set()
    for (fam, metric), value in expected.items():
        if isinstance(value, manifold.PointMetric):
            stats = value.summary.to_dict()
        else:
            stats = {"value": float(value)}
        for stat, want in stats.items():
            rows = table[
                (table["manifold"] == fam)
                & (table["metric"] == metric)
                & (table["statistic"] == stat)
            ]
            assert len(rows) == 1, f"no single row for {fam}/{metric}/{stat}"
            got = float(rows["value"].iloc[0])
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), f"{fam}/{metric}/{stat}"
            checked.add((fam, metric, stat))
    in_table = set(zip(table["manifold"], table["metric"], table["statistic"], strict=True))
    # every row of the profile has a reference: a metric added to profile() must be added here
    assert in_table == checked, f"rows without a reference: {sorted(in_table - checked)}"


def test_every_profile_metric_equals_its_public_function(routed):
    z, v, k, seed, prof = routed
    assert not prof.failures
    _compare_all_rows(prof.table, _expected_rows(z, v, k, seed, 25600))


def test_profile_rankme_cap_follows_rankme(routed):
    z, _, k, seed, _ = routed
    prof = manifold.profile(z, k=k, seed=3, max_samples=40, families=None, progress=False)
    assert prof.value("rankme") == manifold.rankme(z, max_samples=40, seed=3)
    assert prof.value("rankme") != manifold.rankme(z)


def test_profile_zoo_parts_equal_profile_for_every_metric(small_images):
    """The runner's jobs and profile() give the same numbers for every row."""
    settings = dict(families=("rotation",), n_views=3, k=5, seed=3, curvature=True)
    zoo = profile_zoo({"net": _small_model}, small_images, progress=False, **settings)
    direct = manifold.profile(_small_model(), small_images, name="net", progress=False, **settings)
    pd.testing.assert_frame_equal(_sorted(zoo.table), _sorted(direct.table))


def test_views_are_drawn_with_the_profiles_seed(small_images):
    """profile(model, seed=s) measures the views draw_views(..., seed=s) gives, embedded."""
    from manifold import Embedder

    settings = dict(families=("rotation",), n_views=3, k=5, seed=3, max_samples=None)
    prof = manifold.profile(_small_model(), small_images, name="m", progress=False, **settings)
    embedder = Embedder(_small_model(), progress=False)
    z = embedder.embed(small_images)
    drawn = draw_views(small_images, "rotation", n_views=3, seed=3)
    mine = manifold.profile(z, view_embeddings={"rotation": embedder.embed_drawn_views(drawn)},
                            name="m", progress=False, **settings)  # fmt: skip
    pd.testing.assert_frame_equal(_sorted(prof.table), _sorted(mine.table))
    # and another seed's views give other family numbers (the check above can fail)
    other = draw_views(small_images, "rotation", n_views=3, seed=0)
    assert not torch.equal(drawn, other)
    theirs = manifold.profile(z, view_embeddings={"rotation": embedder.embed_drawn_views(other)},
                              name="m", progress=False, **settings)  # fmt: skip
    assert prof.value("spread_ratio", "rotation") != theirs.value("spread_ratio", "rotation")


# --- 4. augmentations: documented seed derivation, independent stage streams ----------------


def _stage_reference(module: nn.Module, seed: int, shape: tuple) -> dict:
    """kornia's own parameters for one stage, drawn from the global torch RNG under ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return module.forward_parameters(shape)


@pytest.mark.parametrize("family", ["color", "ssl"])
def test_stage_streams_follow_the_documented_seed_derivation(family):
    x = torch.rand((5, 3, 10, 10), generator=torch.Generator().manual_seed(1))
    n_views, seed = 4, 11
    _, params = draw_views_with_params(x, family, n_views=n_views, seed=seed)
    stages = list(get_family(family, (10, 10), 3).children())
    for i in range(x.shape[0]):
        # SeedSequence(seed, spawn_key=(i,)) -> one 64-bit seed per stage
        stage_seeds = np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(
            len(stages), np.uint64
        )
        assert len(set(stage_seeds.tolist())) == len(stages)
        for s, module in enumerate(stages):
            got = params[i][f"{s}_{type(module).__name__}"]
            want = _stage_reference(module, int(stage_seeds[s]), (n_views, 3, 10, 10))
            for key in ("batch_prob", "src", "brightness_factor", "order", "sigma"):
                if key in want:
                    assert torch.equal(got[key].cpu(), want[key].cpu()), (i, s, key)


def test_stage_streams_are_independent():
    """Grayscale without jitter happens at rate P(no jitter) * P(grayscale) = 0.2 * 0.2."""
    x = torch.rand((200, 3, 4, 4), generator=torch.Generator().manual_seed(2))
    _, params = draw_views_with_params(x, "color", n_views=4, seed=0)
    jitter = torch.cat([p["0_ColorJitter"]["batch_prob"] for p in params]).bool()
    gray = torch.cat([p["1_RandomGrayscale"]["batch_prob"] for p in params]).bool()
    n = jitter.numel()
    rate = float((gray & ~jitter).sum()) / n
    expected = (1 - manifold.augment.COLOR_P) * manifold.augment.GRAYSCALE_P
    sd = np.sqrt(expected * (1 - expected) / n)
    assert abs(rate - expected) < 4 * sd, (rate, expected)
    # and each stage alone has its documented rate
    assert abs(float(jitter.float().mean()) - manifold.augment.COLOR_P) < 4 * np.sqrt(0.16 / n)
    assert abs(float(gray.float().mean()) - manifold.augment.GRAYSCALE_P) < 4 * np.sqrt(0.16 / n)


# --- 5. same-source rate, count weighting: separated clusters score exactly 1 ---------------


@pytest.mark.parametrize("seed", [4, 5])
def test_count_same_source_rate_of_separated_clusters_is_one(seed):
    # at K = 2 a view's only twin is its nearest neighbour, which NNK always keeps
    n_views = 2
    rng = np.random.default_rng(seed)
    centres = 100.0 * rng.normal(size=(30, 6))
    v = centres[:, None, :] + 1e-3 * rng.normal(size=(30, n_views, 6))
    graph = manifold.nnk_graph(v.reshape(-1, 6), k=8)
    # the NNK graph links views to other images too (small weights): degree > K - 1 somewhere
    assert (graph.mask.sum(axis=1) > n_views - 1).any()
    rate = manifold.same_source_rate(v, weighting="count", graph=graph)
    np.testing.assert_array_equal(rate.values, np.ones(30))
    built_here = manifold.same_source_rate(v, k=8, weighting="count")
    np.testing.assert_array_equal(built_here.values, np.ones(30))


def test_count_same_source_rate_matches_its_definition():
    rng = np.random.default_rng(5)
    n, n_views = 25, 3
    v = rng.normal(size=(n, 1, 4)) + 0.6 * rng.normal(size=(n, n_views, 4))
    graph = manifold.nnk_graph(v.reshape(-1, 4), k=7)
    rate = manifold.same_source_rate(v, weighting="count", graph=graph).values
    want = np.zeros(n)
    for u in range(n * n_views):
        neighbours = graph.neighbors(u)
        same = sum(1 for j in neighbours if j // n_views == u // n_views)
        norm = min(len(neighbours), n_views - 1)
        want[u // n_views] += (same / norm if norm else 0.0) / n_views
    np.testing.assert_allclose(rate, want, rtol=1e-12)


# --- 6. LiDAR: the low-rank route (N·K < D) agrees with the reference ------------------------


def _lidar_reference(v: np.ndarray, delta: float, eps: float) -> float:
    """The definition with D × D matrices and scipy's generalised symmetric eigensolver."""
    n, k, d = v.shape
    mu = v.mean(axis=1)
    sb = (mu - mu.mean(axis=0)).T @ (mu - mu.mean(axis=0)) / (n - 1)
    dev = (v - mu[:, None, :]).reshape(-1, d)
    sw = dev.T @ dev / (n * (k - 1)) + delta * np.eye(d)
    lam = np.clip(scipy.linalg.eigh(sb, sw, eigvals_only=True), 0.0, None)
    p = (lam + eps) / (lam + eps).sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


@pytest.mark.parametrize(
    ("n", "k", "d", "delta", "eps"),
    [(6, 3, 40, 1e-4, 1e-8), (5, 2, 64, 1e-2, 1e-3), (8, 4, 33, 0.5, 1e-6)],
)
def test_lidar_low_rank_route_agrees_with_the_reference(n, k, d, delta, eps):
    rng = np.random.default_rng(n * d)
    v = rng.normal(size=(n, 1, d)) + 0.3 * rng.normal(size=(n, k, d))
    assert n * k < d  # the low-rank route
    want = _lidar_reference(v, delta, eps)
    assert manifold.lidar(v, delta=delta, eps=eps) == pytest.approx(want, rel=1e-7)
    # the streaming route (batches of images) never takes the low-rank path
    batches = [v[: n // 2], v[n // 2 :]]
    assert manifold.lidar(batches, delta=delta, eps=eps) == pytest.approx(want, rel=1e-7)


def test_lidar_full_route_agrees_with_the_reference():
    rng = np.random.default_rng(9)
    v = rng.normal(size=(30, 1, 6)) + 0.5 * rng.normal(size=(30, 3, 6))
    for delta, eps in ((1e-4, 1e-8), (0.3, 1e-2)):
        want = _lidar_reference(v, delta, eps)
        assert manifold.lidar(v, delta=delta, eps=eps) == pytest.approx(want, rel=1e-9)
        assert manifold.lidar(torch.from_numpy(v), delta=delta, eps=eps) == pytest.approx(
            want, rel=1e-9
        )


# --- 7. local PCA: explained variance s², not singular values s ------------------------------


def _cross(scales: list[float]) -> np.ndarray:
    """A point at the origin with neighbours at ±scale along each axis (its NNK neighbours)."""
    d = len(scales)
    pts = [np.zeros(d)]
    for axis, s in enumerate(scales):
        for sign in (1.0, -1.0):
            p = np.zeros(d)
            p[axis] = sign * s
            pts.append(p)
    return np.array(pts)


@pytest.mark.parametrize(
    ("scales", "threshold"),
    [
        ([1.0, 0.5, 0.2], 0.1),  # variance ratios 1, 0.25, 0.04; singular-value ratios 1, .5, .2
        ([1.0, 0.5, 0.2], 0.3),  # 0.25 < 0.3 <= 0.5
        ([1.0, 0.35, 0.3], 0.1),  # 0.1225 and 0.09: 0.3 counts by s, not by s²
        ([1.0, 0.9, 0.8], 0.5),
    ],
)
def test_local_dimension_follows_the_variance_rule(scales, threshold):
    z = _cross(scales)
    k = z.shape[0] - 1
    assert manifold.nnk_degree(z, k=k).values[0] == k  # every neighbour is an NNK neighbour
    # offsets ±s e_a: singular values s·√2, explained variances 2 s²
    variance = np.array(scales) ** 2
    want = int((variance >= threshold * variance.max()).sum())
    got = manifold.local_dimension(z, k=k, threshold=threshold).values[0]
    assert got == want


@pytest.mark.parametrize(
    ("scales", "threshold"),
    [([1.0, 0.5, 0.2], 0.1), ([1.0, 0.35, 0.3], 0.1), ([1.0, 0.5, 0.2], 0.3)],
)
def test_augmentation_dimension_follows_the_variance_rule(scales, threshold):
    # K views at ±s e_a around a centre: centred singular values s·√2
    cloud = _cross(scales)[1:] + 5.0
    v = np.stack([cloud, 2.0 * cloud])
    variance = np.array(scales) ** 2
    want = int((variance >= threshold * variance.max()).sum())
    got = manifold.augmentation_dimension(v, threshold=threshold).values
    np.testing.assert_array_equal(got, [want, want])
