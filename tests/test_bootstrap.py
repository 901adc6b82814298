"""Bootstrap standard errors of a profile: what is reused is exact, and the errors are right."""

import warnings

import numpy as np
import pytest

from manifold.profiling import profile
from manifold.spectral import spectrum


@pytest.mark.parametrize(("n", "dim"), [(300, 20), (15, 40)])
def test_weighted_spectrum_is_the_spectrum_of_repeated_rows(n, dim):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, dim)) + 0.3
    counts = rng.multinomial(n, np.full(n, 1.0 / n))
    weighted = spectrum(z, weights=counts)
    repeated = spectrum(np.repeat(z, counts, axis=0))
    np.testing.assert_allclose(weighted.singular_values, repeated.singular_values, atol=1e-10)
    np.testing.assert_allclose(weighted.eigenvalues, repeated.eigenvalues, atol=1e-10)
    assert weighted.n_samples == repeated.n_samples == n
    with pytest.raises(ValueError, match="weights"):
        spectrum(z, weights=-counts)
    with pytest.raises(ValueError, match="shape"):
        spectrum(z, weights=counts[:-1])


def _draw(seed, n=300):
    """A curved 3-D sheet in 12-D with noisy views: one distribution, many independent draws."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(-1, 1, size=(n, 3))
    z = np.zeros((n, 12))
    z[:, :3] = t
    z[:, 3] = np.sin(2 * t[:, 0])
    z += 0.05 * rng.normal(size=z.shape) * np.linspace(1, 0.2, 12)
    return z, {"noisy": z[:, None] + 0.1 * rng.normal(size=(n, 6, 12))}


def _profile(draw, **options):
    z, views = _draw(draw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return profile(z, view_embeddings=views, k=10, curvature=True, progress=False, **options)


def _rows(prof, statistics):
    t = prof.table
    t = t[t["statistic"].isin(statistics)]
    return dict(zip(zip(t["manifold"], t["metric"], strict=True), t["value"], strict=True))


def test_every_global_metric_and_mean_gets_a_standard_error():
    prof = _profile(0, n_bootstrap=5, seed=3)
    se = _rows(prof, ["se"])
    assert set(se) == set(_rows(prof, ["value", "mean"]))
    assert all(np.isfinite(v) and v > 0 for v in se.values())
    assert _rows(_profile(0, n_bootstrap=5, seed=3), ["se"]) == se  # seeded
    assert not _rows(_profile(0), ["se"])
    assert prof.settings["model"]["n_bootstrap"] == 5
    with pytest.raises(ValueError, match="n_bootstrap"):
        _profile(0, n_bootstrap=1)


def test_standard_errors_match_the_spread_over_independent_samples():
    """24 independent draws give each metric's sampling sd; the bootstrap of one draw agrees.

    With 24 draws the sd itself is known to about 15 %. The graphs are not rebuilt per resample,
    so graph-local metrics come out somewhat low (ratios 0.45-1 here): every ratio must lie
    within a factor 3, and per metric the geometric mean over three draws within a factor 2.
    """
    draws = [_rows(_profile(draw), ["value", "mean"]) for draw in range(24)]
    spread = {key: np.std([d[key] for d in draws], ddof=1) for key in draws[0]}
    ratios = {key: [] for key in spread}
    for draw in (100, 101, 102):
        se = _rows(_profile(draw, n_bootstrap=30, seed=draw), ["se"])
        for key in spread:
            ratios[key].append(se[key] / spread[key])
    for key, r in ratios.items():
        assert all(1 / 3 < x < 3 for x in r), (key, r)
        assert 0.5 < np.exp(np.mean(np.log(r))) < 2, (key, r)


def test_the_engine_context_carries_the_bootstrap():
    """profile's n_bootstrap is the context's: recording through the engine adds the se rows."""
    import torch

    from manifold.engine import ModelContext, Recorder, record_family, record_semantic

    z, views = _draw(0, n=120)
    rec = Recorder("m")
    ctx = ModelContext(torch.as_tensor(z), 10, rec, seed=3, n_bootstrap=4)
    record_semantic(ctx)
    record_family(ctx, "noisy", torch.as_tensor(views["noisy"]))
    t = rec.table()
    se = t[t["statistic"] == "se"]
    assert set(zip(se["manifold"], se["metric"], strict=True)) == set(
        zip(
            *[t[t["statistic"].isin(["value", "mean"])][c] for c in ("manifold", "metric")],
            strict=True,
        )
    )
    with pytest.raises(ValueError, match="n_bootstrap"):
        ModelContext(torch.as_tensor(z), 10, Recorder("m"), n_bootstrap=1)


def test_a_familys_rankme_error_resamples_the_subsample_its_value_was_read_from():
    from manifold._bootstrap import Bootstrap
    from manifold.spectral import rankme

    rng = np.random.default_rng(11)
    n, k, dim, cap, seed, b = 40, 4, 6, 100, 3, 5  # N * K = 160 rows > cap
    z = rng.normal(size=(n, dim))
    views = z[:, None, :] + 0.3 * rng.normal(size=(n, k, dim))
    prof = profile(z, view_embeddings={"crop": views}, k=5, seed=seed, max_samples=cap,
                   n_bootstrap=b, progress=False)  # fmt: skip
    flat = views.reshape(n * k, dim)
    # the value: rankme's own seeded subsample of the N * K view rows
    assert prof.value("rankme", "crop") == rankme(flat, max_samples=cap, seed=seed)
    rows = np.sort(np.random.default_rng(seed).choice(n * k, cap, replace=False))
    assert prof.value("rankme", "crop") == rankme(flat[rows], max_samples=None)
    # each replicate: the same rows, each repeated as often as the resample draws its image
    counts = Bootstrap(b, seed, n).counts
    reps = [rankme(np.repeat(flat[rows], c[rows // k], axis=0), max_samples=None) for c in counts]
    se = prof.value("rankme", "crop", statistic="se")
    assert se == pytest.approx(np.std(reps, ddof=1), rel=1e-6)
