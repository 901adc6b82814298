"""Known-answer tests for manifold.spectral."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

import manifold
from manifold.spectral import _decomposition, spectrum

METRICS = ("rankme", "effective_rank", "stable_rank", "participation_ratio", "nesum")


def orthonormal(n: int, k: int, rng: np.random.Generator, centered: bool = False) -> np.ndarray:
    """n×k matrix with orthonormal columns (orthogonal to the ones vector when centered)."""
    a = rng.normal(size=(n, k))
    if centered:
        a -= a.mean(axis=0)
    q, _ = np.linalg.qr(a)
    return q


def with_singular_values(s: np.ndarray, n: int, d: int, rng, centered=False) -> np.ndarray:
    k = s.size
    return orthonormal(n, k, rng, centered) @ np.diag(s) @ orthonormal(d, k, rng).T


def with_covariance_eigenvalues(lam: np.ndarray, n: int, d: int, rng) -> np.ndarray:
    """Rows with mean exactly 0 and centered covariance eigenvalues exactly ``lam``."""
    return with_singular_values(np.sqrt((n - 1) * lam), n, d, rng, centered=True)


def entropy_rank_formula(sv: np.ndarray, eps: float) -> float:
    p = sv / sv.sum() + eps
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def all_metrics(z, **kw) -> dict[str, float]:
    s = spectrum(z, **kw)
    out = {m: getattr(s, m)() for m in METRICS}
    fit = s.alpha((2, 20))
    out["alpha"] = fit.alpha
    out["alpha_r2"] = fit.r2
    return out


# ----------------------------------------------------------------------------------- RankMe


def rankme_upper_bound(r: int, k: int, eps: float) -> float:
    """Largest RankMe of K singular values of which r are non-zero.

    p_k = q_k + eps with Σq = 1 over r entries and p = eps on the K - r others. The entropy of
    the r entries (mass 1 + r eps) is largest when they are equal: (1 + r eps) log(r/(1 + r eps));
    the others add (K - r) eps log(1/eps).
    """
    mass = 1 + r * eps
    return math.exp(mass * math.log(r / mass) + (k - r) * eps * math.log(1 / eps))


@pytest.mark.parametrize("r", [1, 3, 10])
def test_rankme_of_rank_r_matrix_is_at_most_r(r):
    rng = np.random.default_rng(r)
    n, d = 300, 40
    z = rng.normal(size=(n, r)) @ rng.normal(size=(r, d)) + 0.0
    value = manifold.rankme(z)
    bound = rankme_upper_bound(r, min(n, d), 1e-7)
    assert value <= bound * (1 + 1e-9)
    assert bound < r * (1 + 1e-4)


@pytest.mark.parametrize("r", [1, 4, 17])
def test_rankme_equals_r_for_equal_singular_values(r):
    rng = np.random.default_rng(0)
    z = with_singular_values(np.full(r, 3.0), 200, 50, rng)
    assert manifold.rankme(z) == pytest.approx(r, rel=1e-3)
    assert manifold.effective_rank(z) == pytest.approx(r, rel=1e-9)


def test_rankme_matches_direct_svd_on_random_data():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(700, 48, generator=g, dtype=torch.float64) @ torch.randn(
        48, 48, generator=g, dtype=torch.float64
    )
    z += 30.0  # a mean: RankMe uses the uncentered matrix
    sv = torch.linalg.svdvals(z).numpy()
    assert manifold.rankme(z) == pytest.approx(entropy_rank_formula(sv, 1e-7), rel=1e-10)
    assert manifold.effective_rank(z) == pytest.approx(entropy_rank_formula(sv, 0.0), rel=1e-10)
    assert manifold.stable_rank(z) == pytest.approx(np.sum(sv**2) / sv[0] ** 2, rel=1e-10)
    centred_sv = torch.linalg.svdvals(z - z.mean(0)).numpy()
    assert abs(manifold.rankme(z) - entropy_rank_formula(centred_sv, 1e-7)) > 1.0


def test_gram_route_accuracy_on_ill_conditioned_matrix():
    rng = np.random.default_rng(2)
    s = np.logspace(0, -10, 60)
    z = with_singular_values(s, 400, 60, rng)
    got = spectrum(z).singular_values
    ref = torch.linalg.svdvals(torch.from_numpy(z)).numpy()
    big = ref >= 1e-4 * ref[0]
    # relative error of σ from the Gram grows like eps64 (σ_max/σ)²
    np.testing.assert_allclose(got[big], ref[big], rtol=1e-6)
    # tiny singular values are resolved only to about 1e-7 σ_max (and reported as 0 below it)
    assert np.max(np.abs(got - ref)) <= 1e-6 * ref[0]
    # each zeroed σ ≲ 1e-7 σ_max changes the entropy by at most ~ -p log p with p ≈ 1e-7: the
    # dozen such values here move RankMe by a few 1e-6 relative
    assert manifold.rankme(z) == pytest.approx(entropy_rank_formula(ref, 1e-7), rel=1e-5)


def test_rank_deficient_noise_eigenvalues_are_zeroed():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(500, 3)) @ rng.normal(size=(3, 30))
    s = spectrum(z)
    assert np.all(s.singular_values[3:] == 0)
    assert np.all(s.eigenvalues[3:] == 0)
    assert np.all(s.singular_values[:3] > 0)


def test_wide_matrix_uses_small_side_and_agrees_with_svd():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(30, 80)) + 1.0
    s = spectrum(z)
    assert s.singular_values.shape == (30,) and s.eigenvalues.shape == (29,)
    np.testing.assert_allclose(s.singular_values, np.linalg.svd(z, compute_uv=False), rtol=1e-9)
    centred = np.linalg.svd(z - z.mean(0), compute_uv=False)[:29] ** 2 / 29
    np.testing.assert_allclose(s.eigenvalues, centred, rtol=1e-9)
    streamed = spectrum(iter([z[:10], z[10:]]))  # D×D route
    np.testing.assert_allclose(streamed.singular_values, s.singular_values, rtol=1e-9)
    np.testing.assert_allclose(streamed.eigenvalues, s.eigenvalues, rtol=1e-9)


# ------------------------------------------------------------------------------------ alpha


@pytest.mark.parametrize("a", [0.5, 1.0, 2.0, 3.0])
def test_alpha_of_exact_power_law(a):
    rng = np.random.default_rng(5)
    d = 128
    lam = np.arange(1, d + 1, dtype=float) ** -a
    z = with_covariance_eigenvalues(lam, 400, d, rng) + 7.0
    fit = manifold.alpha(z)
    assert fit.alpha == pytest.approx(a, abs=1e-6)
    assert fit.r2 == pytest.approx(1.0, abs=1e-9)
    assert fit.intercept == pytest.approx(0.0, abs=1e-6)
    assert fit.fit_range == (6, 100)
    np.testing.assert_allclose(fit.eigenvalues, lam, rtol=1e-8)
    assert manifold.alpha(z, fit_range=(10, 500)).fit_range == (10, 128)


def test_alpha_matches_weighted_polyfit_on_random_data():
    rng = np.random.default_rng(6)
    z = rng.normal(size=(600, 40)) * np.arange(1, 41) ** -0.7 + rng.normal(size=(600, 40)) * 0.05
    fit = manifold.alpha(z, fit_range=(3, 30))
    lam = np.linalg.eigvalsh(np.cov(z, rowvar=False))[::-1]
    n = np.arange(3, 31)
    x, y, w = np.log(n), np.log(lam[2:30]), 1.0 / n
    slope, intercept = np.polyfit(x, y, 1, w=np.sqrt(w))  # polyfit weights the residuals
    assert fit.alpha == pytest.approx(-slope, rel=1e-9)
    assert fit.intercept == pytest.approx(intercept, rel=1e-9)
    resid = y - (slope * x + intercept)
    ybar = np.sum(w * y) / np.sum(w)
    r2 = 1 - np.sum(w * resid**2) / np.sum(w * (y - ybar) ** 2)
    assert fit.r2 == pytest.approx(r2, rel=1e-9)
    assert fit.r2 < 1.0


def test_alpha_errors_when_too_few_ranks():
    rng = np.random.default_rng(7)
    z = rng.normal(size=(100, 4)) @ rng.normal(size=(4, 50))  # rank 4 < first rank 6
    # too few ranks is a degenerate spectrum, not an error: NaN with a warning
    with pytest.warns(manifold.DegenerateWarning, match="at least 2 positive eigenvalues"):
        assert np.isnan(manifold.alpha(z).alpha)
    assert manifold.alpha(z, fit_range=(1, 100)).fit_range == (1, 4)
    with pytest.raises(ValueError, match="fit_range"):
        manifold.alpha(z, fit_range=(5, 5))
    with pytest.raises(TypeError, match="fit_range"):
        manifold.alpha(z, fit_range=(1.5, 10))


# --------------------------------------------------------------- stable rank, PR, NESum


def test_stable_rank_participation_ratio_nesum_closed_forms():
    rng = np.random.default_rng(8)
    s = np.array([4.0, 2.0, 1.0, 1.0, 0.5])
    z = with_singular_values(s, 60, 12, rng)
    assert manifold.stable_rank(z) == pytest.approx(np.sum(s**2) / 16.0, rel=1e-12)

    lam = np.array([5.0, 3.0, 1.0, 0.5, 0.25, 0.25])
    z = with_covariance_eigenvalues(lam, 80, 10, rng)
    pr = lam.sum() ** 2 / np.sum(lam**2)
    assert manifold.participation_ratio(z) == pytest.approx(pr, rel=1e-10)
    assert manifold.nesum(z) == pytest.approx(lam.sum() / lam[0], rel=1e-10)
    # the covariance metrics ignore the mean; the singular-value ones do not
    shifted = z + 10.0
    assert manifold.participation_ratio(shifted) == pytest.approx(pr, rel=1e-9)
    assert manifold.nesum(shifted) == pytest.approx(lam.sum() / lam[0], rel=1e-9)
    assert manifold.stable_rank(shifted) < 1.1


def test_spectrum_matches_module_level_functions():
    rng = np.random.default_rng(9)
    z = rng.normal(size=(300, 120)) * np.arange(1, 121) ** -0.5 + 0.3
    s = spectrum(z)
    assert s.n_samples == 300 and s.dim == 120
    for metric in METRICS:
        assert getattr(s, metric)() == getattr(manifold, metric)(z)
    assert s.alpha() == manifold.alpha(z)
    assert s.rankme(eps=1e-3) == manifold.rankme(z, eps=1e-3)
    uncentred = spectrum(z, center=False)
    np.testing.assert_allclose(uncentred.eigenvalues, s.singular_values**2 / 300, rtol=1e-12)


# ------------------------------------------------------------------------------------ LiDAR


def lidar_reference(v: np.ndarray, delta: float, eps: float) -> float:
    n, k, d = v.shape
    mu_i = v.mean(axis=1)
    mu = mu_i.mean(axis=0)
    sb = (mu_i - mu).T @ (mu_i - mu) / (n - 1)
    dev = (v - mu_i[:, None]).reshape(-1, d)
    sw = dev.T @ dev / (n * (k - 1)) + delta * np.eye(d)
    lam = np.clip(scipy.linalg.eigh(sb, sw, eigvals_only=True), 0, None)
    p = (lam + eps) / np.sum(lam + eps)
    return float(np.exp(-np.sum(p * np.log(p))))


def make_views(n, k, d, seed, spread=0.3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n, 1, d)) * np.linspace(2, 0.2, d)
    return centres + spread * rng.normal(size=(n, k, d))


def test_lidar_matches_generalised_eigenproblem():
    v = make_views(40, 5, 12, 10)
    for delta, eps in [(1e-4, 1e-8), (1e-2, 1e-3)]:
        expected = lidar_reference(v, delta, eps)
        assert manifold.lidar(v, delta=delta, eps=eps) == pytest.approx(expected, rel=1e-9)
    torch_value = manifold.lidar(torch.from_numpy(v).float())
    assert torch_value == pytest.approx(lidar_reference(v, 1e-4, 1e-8), rel=1e-4)


def test_lidar_invariant_to_invertible_linear_map():
    v = make_views(50, 4, 8, 11)
    rng = np.random.default_rng(12)
    a = np.eye(8) + 0.4 * rng.normal(size=(8, 8))
    before = manifold.lidar(v, delta=1e-12)
    after = manifold.lidar(v @ a.T + 3.0, delta=1e-12)
    assert after == pytest.approx(before, rel=1e-7)
    # with the default δ the map matters a little, and a pure rescaling barely does
    assert manifold.lidar(100 * v) == pytest.approx(manifold.lidar(100 * v, delta=1e-12), rel=1e-5)


def test_lidar_at_most_n_minus_one():
    v = make_views(5, 3, 20, 13)
    assert manifold.lidar(v, eps=0.0) <= 4 * (1 + 1e-9)
    assert manifold.lidar(v) <= 4 * (1 + 1e-3)
    assert manifold.lidar(v, eps=0.0) > 1.0


def test_lidar_streaming_and_errors():
    v = make_views(30, 3, 6, 14)
    whole = manifold.lidar(v)
    assert manifold.lidar([v[:7], v[7:20], v[20:]]) == pytest.approx(whole, rel=1e-10)
    assert manifold.lidar(torch.from_numpy(b) for b in (v[:15], v[15:])) == pytest.approx(
        whole, rel=1e-10
    )
    with pytest.raises(ValueError, match="K >= 2"):
        manifold.lidar(v[:, :1])
    with pytest.raises(ValueError, match="N >= 2"):
        manifold.lidar(v[:1])
    with pytest.raises(ValueError, match=r"shape \(N, K, D\)"):
        manifold.lidar(v[:, 0])
    bad = v.copy()
    bad[9, 1, 2] = np.nan
    with pytest.raises(ValueError, match="1 NaN value .*row 9"):
        manifold.lidar(bad)
    with pytest.raises(ValueError, match="first at image 9"):
        manifold.lidar([bad[:5], bad[5:]])


def test_lidar_of_coinciding_views_without_regulariser_is_nan_with_a_warning():
    rng = np.random.default_rng(16)
    # an invariant model: each image's views coincide, Σ_w = 0, and with δ = 0 the LDA matrix
    # Σ_w^(-1/2) Σ_b Σ_w^(-1/2) does not exist (before: ValueError "singular")
    still = np.repeat(rng.normal(size=(6, 1, 3)), 4, axis=1)
    for views in (still, [still[:2], still[2:]]):
        for relative in (False, True):
            with pytest.warns(manifold.DegenerateWarning, match="singular"):
                assert np.isnan(
                    manifold.lidar(views, delta=0.0, scale="within" if relative else None)
                )
    # a ridge δ > 0 gives the documented limit: the effective rank of Σ_b
    assert np.isfinite(manifold.lidar(still))
    # δ = 0 is the paper's formula whether or not it is relative (before: the relative ridge of
    # 0 read as "nothing varies", and LiDAR came out as D)
    v = make_views(40, 5, 6, 17)
    assert manifold.lidar(v, delta=0.0, scale="within") == manifold.lidar(v, delta=0.0)
    assert manifold.lidar(v, delta=0.0) == pytest.approx(lidar_reference(v, 0.0, 1e-8), rel=1e-9)
    # every image the same, views differing (Σ_b = 0) or not: every λ is 0, p = λ / Σλ is 0/0
    # with ε = 0 (before: ValueError) and uniform with ε > 0, which made a collapsed model's
    # LiDAR D, the maximum (before: D, silently); both the D × D and the N·K < D routes
    for views in (
        np.broadcast_to(rng.normal(size=(1, 3, 4)), (6, 3, 4)),
        np.broadcast_to(rng.normal(size=(1, 2, 10)), (3, 2, 10)),
        np.ones((5, 3, 2)),
        np.ones((2, 2, 9)) * 1e3,
    ):
        for relative in (False, True):
            for eps in (0.0, 1e-8):
                with pytest.warns(manifold.DegenerateWarning, match="Σ_b = 0"):
                    got = manifold.lidar(views, eps=eps, scale="within" if relative else None)
                assert np.isnan(got)
    # image means that differ only by rounding count as equal; a real difference does not
    base = rng.normal(size=(1, 3, 5)) * 100
    with pytest.warns(manifold.DegenerateWarning, match="Σ_b = 0"):
        manifold.lidar(np.concatenate([base, base * (1 + 1e-16)]).repeat(3, axis=0))
    assert np.isfinite(manifold.lidar(np.concatenate([base, base + 1e-6]).repeat(3, axis=0)))


# ------------------------------------------------------------------------------- streaming


@pytest.fixture
def data():
    rng = np.random.default_rng(15)
    return rng.normal(size=(1000, 32)) * np.arange(1, 33) ** -0.8 + rng.normal(size=32)


def assert_same_metrics(a: dict, b: dict, rel=1e-8):
    for key in a:
        assert b[key] == pytest.approx(a[key], rel=rel), key


def test_streaming_equals_in_memory(data, tmp_path, monkeypatch):
    whole = all_metrics(data)
    assert_same_metrics(whole, all_metrics([data[:100], data[100:101], data[101:]]))
    assert_same_metrics(whole, all_metrics(data[i : i + 77] for i in range(0, 1000, 77)))
    assert_same_metrics(
        whole, all_metrics([torch.from_numpy(data[:500]), torch.from_numpy(data[500:])])
    )
    path = tmp_path / "z.dat"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=data.shape)
    mm[:] = data
    mm.flush()
    ro = np.memmap(path, dtype=np.float64, mode="r", shape=data.shape)
    monkeypatch.setattr(_decomposition, "_CHUNK_BYTES", 8 * 32 * 90)  # 90-row chunks
    assert_same_metrics(whole, all_metrics(ro))
    # the same seeded subset is read from a memmap and from an array
    assert manifold.rankme(ro, max_samples=300) == pytest.approx(
        manifold.rankme(data, max_samples=300), rel=1e-10
    )


def test_subsampling(data):
    full = manifold.rankme(data, max_samples=None)
    assert manifold.rankme(data, max_samples=5000) == full
    sub = manifold.rankme(data, max_samples=200, seed=1)
    assert sub != full
    assert manifold.rankme(data, max_samples=200, seed=1) == sub
    assert manifold.rankme(data, max_samples=200, seed=2) != sub
    # reservoir sampling of a stream: right size, all rows when the stream is short
    s = spectrum(iter([data[:400], data[400:]]), max_samples=250, seed=3)
    assert s.n_samples == 250
    s_all = spectrum(iter([data[:400], data[400:]]), max_samples=5000)
    np.testing.assert_allclose(s_all.singular_values, spectrum(data).singular_values, rtol=1e-9)


def test_reservoir_sample_is_uniform():
    # 10 distinct one-hot rows streamed in batches; how often each lands in a sample of 3
    rows = np.eye(10)
    counts = np.zeros(10)
    for seed in range(300):
        sample = _decomposition._reservoir(
            iter([torch.from_numpy(rows[:4]), torch.from_numpy(rows[4:])]), 3, seed
        )
        assert sample.shape == (3, 10)
        assert torch.all(sample.sum(0) <= 1)  # no row twice
        counts += sample.sum(0).numpy()
    # each row is kept with probability 3/10: 90 of 300 expected, sd ≈ 7.9
    assert np.all(np.abs(counts - 90) < 35)


# ------------------------------------------------------------------------------- bad input


def test_non_finite_input_messages(data, tmp_path, monkeypatch):
    bad = data.copy()
    bad[17, 3] = np.nan
    bad[40, 0] = np.inf
    with pytest.raises(ValueError, match="1 NaN value and 1 infinite value .*row 17"):
        manifold.rankme(bad)
    with pytest.raises(ValueError, match="first at row 17"):
        manifold.rankme([bad[:10], bad[10:]])
    path = tmp_path / "bad.dat"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=bad.shape)
    mm[:] = data
    mm[40, 0] = np.inf
    mm.flush()
    monkeypatch.setattr(_decomposition, "_CHUNK_BYTES", 8 * 32 * 30)  # 30-row chunks
    with pytest.raises(ValueError, match=r"1 infinite value \(first at row 40; .*rows 30\.\.59"):
        manifold.rankme(np.memmap(path, dtype=np.float64, mode="r", shape=(1000, 32)))


def test_shape_errors(data):
    with pytest.raises(ValueError, match=r"expected z of shape \(N, D\), got \(32,\)"):
        manifold.rankme(data[0])
    with pytest.raises(ValueError, match=r"got \(2, 500, 32\)"):
        manifold.stable_rank(data.reshape(2, 500, 32))
    with pytest.raises(ValueError, match="N >= 2"):
        manifold.rankme(data[:1])
    with pytest.raises(ValueError, match="N >= 2"):
        manifold.rankme([data[:1]])
    with pytest.raises(ValueError, match="batch 1 .*D = 31, expected D = 32"):
        manifold.rankme([data[:10], data[10:20, :31]])
    with pytest.raises(ValueError, match=r"batch 0 .*\(b, D\)"):
        manifold.rankme([data[0], data[1]])
    with pytest.raises(ValueError, match="no rows"):
        manifold.rankme(iter([]))


def test_constant_and_zero_embeddings():
    z = np.tile(np.array([[0.3, -1.7, 2.0, 0.1]]), (50, 1))
    assert manifold.rankme(z) == pytest.approx(1.0, rel=1e-5)
    assert manifold.stable_rank(z) == pytest.approx(1.0, rel=1e-12)
    # collapse is a result, not an error: NaN with a DegenerateWarning that says why
    for fn in (manifold.alpha, manifold.participation_ratio, manifold.nesum):
        with pytest.warns(manifold.DegenerateWarning, match="constant embeddings"):
            assert np.isnan(float(fn(z)))
    wide = np.tile(np.arange(60.0) / 7, (10, 1))  # N < D route
    with pytest.warns(manifold.DegenerateWarning, match="constant embeddings"):
        assert np.isnan(manifold.alpha(wide).alpha)
    for fn in (manifold.rankme, manifold.effective_rank, manifold.stable_rank):
        with pytest.warns(manifold.DegenerateWarning, match="all zeros"):
            assert np.isnan(fn(np.zeros((5, 3))))


def test_dtypes_and_array_types(data):
    z32 = data.astype(np.float32)
    ref = manifold.rankme(z32)
    assert manifold.rankme(torch.from_numpy(z32)) == ref
    assert manifold.rankme(data) == manifold.rankme(torch.from_numpy(data))
    assert manifold.rankme(data.astype(np.float16)) == pytest.approx(ref, rel=1e-2)
    assert manifold.rankme(torch.from_numpy(z32).half()) == pytest.approx(ref, rel=1e-2)
    assert manifold.rankme(torch.from_numpy(z32).bfloat16()) == pytest.approx(ref, rel=3e-2)
    assert manifold.alpha(data.astype(np.float16), (2, 20)).alpha == pytest.approx(
        manifold.alpha(z32, (2, 20)).alpha, rel=1e-2
    )
    assert manifold.rankme(data.astype(np.int64)) > 1.0
    with pytest.raises(TypeError, match="max_samples"):
        manifold.rankme(data, max_samples=2.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_input_matches_cpu(data):
    z = torch.from_numpy(data)
    assert manifold.rankme(z.cuda()) == pytest.approx(manifold.rankme(z), rel=1e-10)
    v = torch.from_numpy(make_views(20, 3, 6, 0))
    assert manifold.lidar(v.cuda()) == pytest.approx(manifold.lidar(v), rel=1e-8)


_RSS_SCRIPT = """
import resource, sys
import numpy as np
import manifold
z = np.load(sys.argv[1], mmap_mode="r")
manifold.spectrum(z[:1000])  # imports and warm-up before the baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
s = manifold.spectrum(z)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(s.n_samples, (after - before) // 1024)
"""


def test_spectrum_of_a_memmap_does_not_keep_the_file_resident(tmp_path):
    # 256 MiB of float32 rows: read through the mapping, every page would stay resident and
    # the peak RSS would grow with the file (measured: 152 MiB); read from the file, by at most
    # one chunk (measured: 0 MiB, the warm-up had already allocated it)
    import subprocess
    import sys

    n, dim = 262_144, 256
    path = tmp_path / "z.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    rng = np.random.default_rng(0)
    for lo in range(0, n, 65_536):
        mm[lo : lo + 65_536] = rng.standard_normal((65_536, dim), dtype=np.float32)
    mm.flush()
    del mm
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(path)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    rows, growth_mib = map(int, out.stdout.split())
    assert rows == n
    assert growth_mib < 64, f"peak RSS grew by {growth_mib} MiB for a 256 MiB memmap"


def test_gram_overflow_is_a_clear_error():
    # finite values whose squares overflow float64: one clear ValueError, no numpy warning
    z = np.random.default_rng(0).normal(size=(100, 5)) * 1e200
    with pytest.raises(ValueError, match="overflows float64"):
        manifold.spectrum(z)
    # the metrics do not depend on the scale, so the rescaled input gives the answer
    assert manifold.rankme(z / 1e200) == pytest.approx(manifold.rankme(z[:, :] / 1e190), rel=1e-9)


def test_lidar_with_a_ridge_below_working_precision_says_so():
    # N (K - 1) = 30 < D = 64: Σ_w is singular, and δ = 1e-4 is below its precision at scale 1e6
    views = make_views(30, 2, 64, 22) * 1e6
    batches = [views[:15], views[15:]]  # streamed: the D x D route
    with pytest.warns(manifold.DegenerateWarning, match=r"ridge delta = 0\.0001 is below"):
        assert np.isnan(manifold.lidar(batches))
    # the exact N x N route of an array (N K = 60 < D), and the relative ridge, give numbers
    assert np.isfinite(manifold.lidar(views))
    assert np.isfinite(manifold.lidar(batches, scale="within"))
    # δ = 0 keeps its own message
    with pytest.warns(manifold.DegenerateWarning, match="delta = 0 is undefined"):
        manifold.lidar(batches, delta=0.0)
    # a relative ridge too small says so, with the delta given, and does not suggest itself
    with pytest.warns(manifold.DegenerateWarning, match=r"relative ridge \(delta = 1e-14") as w:
        assert np.isnan(manifold.lidar(batches, delta=1e-14, scale="within"))
    assert 'scale="within"' not in str(w[0].message)
