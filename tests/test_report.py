"""The HTML report: sections, embedded figures, self-containment, and a headless Chromium render."""

from __future__ import annotations

import base64
import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from manifold.profiling import Profile, profile
from manifold.report import SECTIONS, write_report

ROOT = Path(__file__).resolve().parents[1]


def _load_screenshot_module():
    spec = importlib.util.spec_from_file_location(
        "screenshot_report", ROOT / "scripts" / "screenshot_report.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results():
    """Five synthetic models (embeddings with views), their clustering and transfer evaluation."""
    from manifold.spectral import spectrum
    from manifold.zoo import TransferPredictor, cluster_models

    rng = np.random.default_rng(0)
    profiles, spectra = [], {}
    for i in range(5):
        z = rng.standard_normal((50, 12)) * np.linspace(1, 0.05 * (i + 1), 12)
        views = z[:, None, :] + (0.05 + 0.1 * i) * rng.standard_normal((50, 3, 12))
        name = f"model{i}"
        profiles.append(profile(z, views={"crop": views}, k=5, name=name, progress=False))
        spectra[name] = spectrum(z)
    prof = Profile.concat(profiles)
    groups = {"model0": "a", "model1": "a", "model2": "b", "model3": "b", "model4": "b"}
    clusters = cluster_models(prof, groups=groups)
    matrix = prof.to_matrix()
    scores = pd.DataFrame({"task": matrix["crop/spread_ratio"] * 2 + 1}, index=matrix.index)
    evaluation = TransferPredictor().evaluate(prof, scores, n_permutations=0)
    return prof, spectra, clusters, evaluation


def section_ids(html: str) -> list[str]:
    return re.findall(r'<h2 id="([a-z]+)">', html)


def test_all_sections_in_order_with_embedded_png(results, tmp_path):
    prof, spectra, clusters, evaluation = results
    path = write_report(prof, tmp_path / "r.html", spectra=spectra, clusters=clusters,
                        transfer=evaluation, files=["profile.csv"],
                        figure_dir=tmp_path / "figs")  # fmt: skip
    html = path.read_text()
    expected = ["summary", "invariance", "spectra", "clusters", "transfer", "settings", "files"]
    assert section_ids(html) == expected
    assert [s for s in SECTIONS if s in expected] == expected  # page order = SECTIONS order
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    # 4 invariance heat maps, spectra, dendrogram, map, predictions
    assert len(images) == 8
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    saved = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert len(saved) == 8 and "dendrogram.png" in saved and "transfer_predictions.png" in saved
    # self-contained: no external resource is referenced
    assert not re.search(r'(src|href)="(https?:)?//', html)
    # the numbers shown are the profile's
    assert f"{prof.value('rankme', model='model3'):.4g}" in html
    assert f"{clusters.adjusted_rand_index:.3f}" in html


def test_sections_follow_inputs(results, tmp_path):
    prof = results[0]
    # the profile carries the spectra its metrics were read from: the figure needs no input
    html = write_report(prof, tmp_path / "r.html").read_text()
    assert section_ids(html) == ["summary", "invariance", "spectra", "settings"]
    html = write_report(prof, tmp_path / "n.html", spectra={}).read_text()
    assert section_ids(html) == ["summary", "invariance", "settings"]
    semantic_only = Profile(prof.table[prof.table["manifold"] == "semantic"], prof.settings, [])
    html = write_report(semantic_only, tmp_path / "s.html").read_text()
    assert section_ids(html) == ["summary", "settings"]


def test_the_profile_carries_the_spectrum_its_metrics_were_read_from(results, tmp_path):
    prof, spectra, *_ = results
    assert list(prof.spectra) == prof.models
    for name, spec in spectra.items():  # spectrum(z) computed apart, in the fixture
        np.testing.assert_array_equal(prof.spectra[name].eigenvalues, spec.eigenvalues)
        assert prof.spectra[name].rankme() == prof.value("rankme", model=name)
    back = Profile.load(prof.save(tmp_path / "p.csv"))
    for name, spec in prof.spectra.items():
        np.testing.assert_array_equal(back.spectra[name].singular_values, spec.singular_values)
        np.testing.assert_array_equal(back.spectra[name].eigenvalues, spec.eigenvalues)
        assert back.spectra[name].participation_ratio() == spec.participation_ratio()
        assert (back.spectra[name].n_samples, back.spectra[name].dim) == (50, 12)
    # the arrays live in a binary file beside the sidecar, which stays small
    assert (tmp_path / "p.spectra.npz").exists()
    assert "eigenvalues" not in (tmp_path / "p.json").read_text()
    # saving a profile without spectra over it removes the stale arrays
    plain = Profile(prof.table, prof.settings, prof.failures)
    assert Profile.load(plain.save(tmp_path / "p.csv")).spectra == {}
    assert not (tmp_path / "p.spectra.npz").exists()


def test_failures_are_listed(tmp_path):
    z = np.zeros((30, 4))
    z[:, 0] = np.arange(30)  # rank one: some metrics cannot be computed
    prof = profile(z, k=5, name="line", progress=False)
    html = write_report(prof, tmp_path / "r.html").read_text()
    assert bool(prof.failures) == ('id="failures"' in html)
    for f in prof.failures:
        assert f["metric"] in html


def test_report_renders_in_headless_chromium(results, tmp_path):
    shot = _load_screenshot_module()
    if shot.find_chromium() is None:
        pytest.skip("Chromium is not installed")
    from PIL import Image

    prof, spectra, clusters, evaluation = results
    html = write_report(prof, tmp_path / "report.html", spectra=spectra, clusters=clusters,
                        transfer=evaluation)  # fmt: skip
    png = shot.screenshot(html, tmp_path / "report.png", width=1000, height=1400)
    image = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert image.shape == (1400, 1000)
    # a rendered page has text and figures: many dark pixels and a white background
    assert (image < 100).mean() > 0.005
    assert (image > 240).mean() > 0.3
    # the first figure (an embedded PNG) is drawn: colour appears below the summary table
    colour = np.asarray(Image.open(png).convert("RGB"), dtype=float)
    saturation = colour.max(axis=2) - colour.min(axis=2)
    assert (saturation > 60).mean() > 0.01
