"""The HTML report: sections, embedded figures, self-containment, and a headless Chromium render."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from manifold.profiling import Profile, profile
from manifold.report import SECTIONS, write_report
from manifold.results import COLUMNS

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
        profiles.append(profile(z, view_embeddings={"crop": views}, k=5, name=name, progress=False))
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


def _spectral_profile(dims: dict[str, int], n: int = 40, seed: int = 0) -> Profile:
    """A profile of a few models, each with the spectrum of random (n, D) embeddings."""
    from manifold.spectral import spectrum

    rng = np.random.default_rng(seed)
    spectra = {name: spectrum(rng.standard_normal((n, d))) for name, d in dims.items()}
    rows = [[name, "semantic", "rankme", "value", s.rankme()] for name, s in spectra.items()]
    settings = {name: {"k": 5} for name in dims}
    return Profile(pd.DataFrame(rows, columns=COLUMNS), settings, [], spectra)


def _load_warned(path):
    with pytest.warns(UserWarning) as caught:
        back = Profile.load(path)
    assert len(caught) == 1, [str(w.message) for w in caught]
    return back, str(caught[0].message)


@pytest.mark.parametrize(
    "other",
    [
        {"narrow": 8, "wide": 16},  # the same models in another order: lengths disagree
        {"narrow": 8},  # fewer arrays than the sidecar lists
        {"wide2": 16, "narrow2": 8},  # same shapes, other models: only the content differs
    ],
)
def test_spectra_of_another_save_are_dropped_not_attached_to_the_wrong_model(tmp_path, other):
    # an interrupted or concurrent save leaves one save's arrays beside another's sidecar
    mine = _spectral_profile({"wide": 16, "narrow": 8})
    path = mine.save(tmp_path / "p.csv")
    theirs = _spectral_profile(other, seed=1).save(tmp_path / "other" / "p.csv")
    (tmp_path / "p.spectra.npz").write_bytes((theirs.parent / "p.spectra.npz").read_bytes())
    back, message = _load_warned(path)
    assert back.spectra == {}
    assert "does not match this sidecar" in message and "concurrent save" in message
    # the rest of the profile is intact, and an untouched save still reads back whole
    pd.testing.assert_frame_equal(back.table, mine.table, check_dtype=False)
    assert back.settings == mine.settings
    again = Profile.load(mine.save(tmp_path / "p.csv"))
    assert list(again.spectra) == ["wide", "narrow"]
    assert again.spectra["wide"].dim == 16 and again.spectra["narrow"].dim == 8


def test_same_shaped_spectra_in_another_order_are_not_swapped(tmp_path):
    # two models of the same N and D saved in the other order: every length agrees
    mine = _spectral_profile({"a": 8, "b": 8})
    path = mine.save(tmp_path / "p.csv")
    swapped = Profile(mine.table, mine.settings, [], {m: mine.spectra[m] for m in ("b", "a")})
    other = swapped.save(tmp_path / "other" / "p.csv")
    (tmp_path / "p.spectra.npz").write_bytes((other.parent / "p.spectra.npz").read_bytes())
    back, message = _load_warned(path)
    assert back.spectra == {} and "does not match this sidecar" in message


def test_a_corrupt_or_missing_spectra_file_drops_the_spectra_with_one_warning(tmp_path):
    path = _spectral_profile({"wide": 16, "narrow": 8}).save(tmp_path / "p.csv")
    npz = tmp_path / "p.spectra.npz"
    npz.write_bytes(npz.read_bytes()[:100])  # truncated
    back, message = _load_warned(path)
    assert back.spectra == {} and "dropped" in message
    npz.write_bytes(b"not a zip file at all")
    assert _load_warned(path)[0].spectra == {}
    npz.unlink()
    back, message = _load_warned(path)
    assert back.spectra == {} and "no spectra file" in message


def test_a_sidecar_whose_lengths_disagree_with_the_arrays_drops_the_spectra(tmp_path):
    path = _spectral_profile({"wide": 16, "narrow": 8}).save(tmp_path / "p.csv")
    sidecar = tmp_path / "p.json"
    meta = json.loads(sidecar.read_text())
    assert "eigenvalues" not in sidecar.read_text() and "models" not in meta["spectra"]
    meta["spectra"]["wide"]["dim"] = 8  # an edited sidecar: the arrays are those of D = 16
    sidecar.write_text(json.dumps(meta))
    back, message = _load_warned(path)
    assert back.spectra == {} and "does not match this sidecar" in message


def test_a_sidecar_written_before_the_tokens_loads_and_is_checked_by_the_lengths(tmp_path):
    prof = _spectral_profile({"wide": 16, "narrow": 8})
    path = prof.save(tmp_path / "p.csv")
    sidecar, npz = tmp_path / "p.json", tmp_path / "p.spectra.npz"
    meta = json.loads(sidecar.read_text())
    for entry in meta["spectra"].values():
        entry.pop("token", None)
    sidecar.write_text(json.dumps(meta))
    # that format's npz has no model names: s0 is the first model of the sidecar, s1 the second
    with np.load(npz) as arrays:
        old = {k: arrays[k] for k in arrays.files if k != "models"}
    with open(npz, "wb") as fh:
        np.savez(fh, **old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = Profile.load(path)
    assert [back.spectra[m].eigenvalues.tolist() for m in back.spectra] == [
        prof.spectra[m].eigenvalues.tolist() for m in prof.spectra
    ]
    # arrays in the other order do not fit the sidecar's D = 16, 8
    with open(npz, "wb") as fh:
        np.savez(fh, s0_singular_values=old["s1_singular_values"],
                 s0_eigenvalues=old["s1_eigenvalues"], s1_singular_values=old["s0_singular_values"],
                 s1_eigenvalues=old["s0_eigenvalues"])  # fmt: skip
    assert _load_warned(path)[0].spectra == {}
    # and a newer save's arrays beside that sidecar do not pass for it
    _spectral_profile({"wide": 16, "narrow": 8}, seed=1).save(tmp_path / "new" / "p.csv")
    npz.write_bytes((tmp_path / "new" / "p.spectra.npz").read_bytes())
    back, message = _load_warned(path)
    assert back.spectra == {} and "does not match this sidecar" in message


def test_a_sidecar_with_the_spectra_inline_still_loads(tmp_path):
    # the format Spectrum.to_dict writes, arrays in the JSON itself and no .spectra.npz
    prof = _spectral_profile({"wide": 16, "narrow": 8})
    path = Profile(prof.table, prof.settings).save(tmp_path / "p.csv")
    meta = json.loads((tmp_path / "p.json").read_text())
    meta["spectra"] = {m: s.to_dict() for m, s in prof.spectra.items()}
    (tmp_path / "p.json").write_text(json.dumps(meta))
    back = Profile.load(path)
    assert list(back.spectra) == ["wide", "narrow"]
    for name, spec in prof.spectra.items():
        np.testing.assert_array_equal(back.spectra[name].singular_values, spec.singular_values)
        np.testing.assert_array_equal(back.spectra[name].eigenvalues, spec.eigenvalues)
        assert back.spectra[name].dim == spec.dim


def test_model_names_that_look_like_numbers_or_missing_values_stay_strings(tmp_path):
    prof = _spectral_profile({"1": 8, "007": 8, "NA": 8})
    for name in ("p.csv", "p.parquet"):
        back = Profile.load(prof.save(tmp_path / name))
        assert back.models == ["1", "007", "NA"] == list(back.settings) == list(back.spectra)
        assert back.value("rankme", model="007") == prof.value("rankme", model="007")


def test_model_names_that_are_not_strings_raise_before_any_file_is_written(tmp_path):
    rows = [
        [1, "semantic", "rankme", "value", 2.0],
        [np.int64(2), "semantic", "rankme", "value", 3.0],
    ]
    prof = Profile(pd.DataFrame(rows, columns=COLUMNS), {1: {"k": 5}})
    with pytest.raises(ValueError, match="model names must be strings"):
        prof.save(tmp_path / "p.csv")
    assert list(tmp_path.iterdir()) == []


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
