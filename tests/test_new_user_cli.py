"""The command line with one's own model and images (issue 17): options, notes, honest outputs.

Each test runs :func:`manifold.cli.main` in-process on tiny inputs (grey 8x8 images in class
subfolders, a two-head model from a ``module.py:factory`` file) and pins one problem a new user
hit; each failed on the code before the fix.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import manifold
from manifold.cli import main
from manifold.profiling import Profile, profile

TINY = ["--n-images", "40", "--n-views", "2", "--k", "5", "--families", "flip", "--quiet"]

MODEL_FILE = """
import torch
from torch import nn


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(1, 12, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                  nn.Flatten())
        self.head = nn.Linear(48, 2)

    def forward(self, x):
        features = self.body(x)
        return self.head(features), features


def factory():
    return TwoHeads()
"""


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """A grey ImageFolder (two class subfolders) and a model file taking 1-channel images."""
    root = tmp_path_factory.mktemp("own")
    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (root / "images" / label).mkdir(parents=True)
        for i in range(25):
            pixels = (rng.random((8, 8)) * 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / "images" / label / f"{i}.png")
    (root / "model.py").write_text(MODEL_FILE)
    return root


def _profile_own(own, out, *extra):
    args = ["profile", "--model", f"{own / 'model.py'}:factory", "--data", str(own / "images")]
    return main([*args, *TINY, "--out", str(out), *extra])


def test_grey_image_folder_with_class_subfolders_and_own_model(own, tmp_path, capsys):
    # before: subfolders gave "no images", and folders were always read as RGB
    assert _profile_own(own, tmp_path / "out", "--output", "1") == 0
    meta = json.loads((tmp_path / "out" / "profile.json").read_text())["settings"]["factory"]
    assert meta["n_images"] == 40
    assert meta["dim"] == 48  # --output 1: the features, not the 2 logits
    assert meta["output"] == 1
    assert meta["version"] == manifold.__version__
    assert meta["command"].startswith("manifold ")


def test_tuple_output_is_a_note_line_not_a_raw_warning(own, tmp_path, capsys):
    assert _profile_own(own, tmp_path / "out") == 0
    out = capsys.readouterr()
    # before: the logits were profiled silently; raw warnings leaked with source lines
    notes = [line for line in out.out.splitlines() if "returns a tuple of 2 items" in line]
    assert notes and all(line.startswith("note: ") for line in notes)
    assert "UserWarning" not in out.out + out.err
    assert "warnings.warn" not in out.out + out.err


def test_layer_normalize_batch_size_curvature(own, tmp_path):
    # before: none of these options existed on the command line
    code = _profile_own(own, tmp_path / "out", "--layer", "body.1", "--normalize", "0.5,0.25",
                        "--batch-size", "7", "--curvature")  # fmt: skip
    assert code == 0
    prof = Profile.load(tmp_path / "out" / "profile.csv")
    settings = prof.settings["factory"]
    assert settings["layer"] == "body.1" and settings["dim"] == 12
    assert settings["batch_size"] == 7 and "0.25" in settings["transform"]
    assert {"ollivier_ricci", "forman_ricci"} <= set(prof.table["metric"])


def test_channels_option_reads_grey_as_rgb(own, tmp_path):
    # a 1-channel model cannot take --channels 3: the one-line error names the shape
    assert _profile_own(own, tmp_path / "out", "--channels", "3") == 2


def test_device_auto_works_and_gpu_is_one_line(own, tmp_path, capsys):
    # before: --device auto failed in runner.load_model (model.to("auto"))
    assert _profile_own(own, tmp_path / "out", "--output", "1", "--device", "auto") == 0
    capsys.readouterr()
    assert _profile_own(own, tmp_path / "out2", "--device", "gpu") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown device 'gpu'" in err[0]


def test_capped_and_ignored_requests_are_noted(tmp_path, capsys):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((30, 6)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    # before: --device with embeddings was silently ignored
    code = main(["profile", "--embeddings", str(tmp_path / "z.npy"), "--device", "cpu",
                 "--k", "5", "--out", str(tmp_path / "e")])  # fmt: skip
    assert code == 0
    assert "note: --device apply to a model and are ignored with --embeddings" in (
        capsys.readouterr().out
    )
    meta = json.loads((tmp_path / "e" / "profile.json").read_text())["settings"]["z"]
    assert meta["n_views"] is None and meta["k_mle"] == 20  # recorded as used


def test_n_images_beyond_the_data_is_noted(own, tmp_path, capsys):
    # before: --n-images 5000 silently used the 50 images there are
    args = [a if a != "40" else "5000" for a in TINY]
    code = main(["profile", "--model", f"{own / 'model.py'}:factory", "--output", "1",
                 "--data", str(own / "images"), *args, "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 0
    assert "note: --n-images 5000 asked for more images than" in capsys.readouterr().out


def test_version_and_defaults_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert manifold.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["profile", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    # one default for n_views everywhere: the CLI used 8, Python 16
    assert "views per image and family (K) (default: 16)" in text
    assert "(default: 10)" in text and "(default: 256)" in text


def test_stale_files_are_removed(own, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "old_model_map.png").write_bytes(b"stale")
    assert _profile_own(own, out, "--output", "1") == 0
    assert not (out / "figures" / "old_model_map.png").exists()
    assert "note: removed" in capsys.readouterr().out


# -- comparisons ----------------------------------------------------------------------------


def _saved_profiles(tmp_path, ks=(5, 5, 5, 5, 5)):
    rng = np.random.default_rng(1)
    paths = []
    for i, k in enumerate(ks):
        z = rng.standard_normal((40, 8)) * (1 + i) @ rng.standard_normal((8, 8))
        prof = profile(z, k=k, name=f"mine{i}", progress=False)
        paths.append(str(prof.save(tmp_path / f"p{i}.csv")))
    return paths


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cluster_notes_mismatched_settings(tmp_path, capsys):
    paths = _saved_profiles(tmp_path, ks=(5, 5, 7, 5, 5))
    # before: profiles with different k were mixed without a word, dropped metrics only in json
    assert main(["cluster", *paths, "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "note: the profiles were computed with different settings" in out
    assert "k: 5 (mine0, mine1, mine3 +1), 7 (mine2)" in out


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cluster_flags_a_degenerate_grouping(tmp_path, capsys):
    paths = _saved_profiles(tmp_path)
    groups = pd.DataFrame({"model": [f"mine{i}" for i in range(5)], "group": list("abcde")})
    groups.to_csv(tmp_path / "g.csv", index=False)
    assert main(["cluster", *paths, "--groups", str(tmp_path / "g.csv"),
                 "--out", str(tmp_path / "c")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    # before: "ARI vs groups = 1.000" (or nan) printed as a result
    assert "agreement with the groups undefined (5 group(s) for 5 models" in out
    assert "ARI vs groups =" not in out


def test_python_clustering_warns_too(tmp_path):
    rng = np.random.default_rng(1)
    profs = [
        profile(rng.standard_normal((40, 8)), k=k, name=f"m{i}", progress=False)
        for i, k in enumerate((5, 5, 7, 5))
    ]
    with pytest.warns(UserWarning, match="different settings.*k: 5"):
        manifold.cluster_models(Profile.concat(profs))
    matrix = Profile.concat(profs).to_matrix().assign(constant=1.0)
    # before: dropped metrics were mentioned only inside clusters.json
    with pytest.warns(UserWarning, match="1 of .* metrics left out: constant"):
        manifold.cluster_models(matrix)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_predict_without_transfer_says_what_it_needs(tmp_path, capsys, monkeypatch):
    import manifold.datasets

    zoo_scores = pd.DataFrame({"task": [0.1, 0.2, 0.3, 0.4]}, index=["a_s0", "b_s0", "c_s0", "d"])
    monkeypatch.setattr(manifold.datasets, "load_transfer", lambda zoo="factor": zoo_scores)
    paths = _saved_profiles(tmp_path)
    # before: "Profile models named like the transfer table's rows" (rename after the zoo)
    assert main(["predict", *paths, "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "pass --transfer scores.csv with a first column 'model'" in err


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_predict_states_the_small_n_caveat_next_to_r2(tmp_path, capsys):
    paths = _saved_profiles(tmp_path)
    scores = pd.DataFrame({"model": [f"mine{i}" for i in range(5)],
                           "task": [0.1, 0.5, 0.3, 0.9, 0.7]})  # fmt: skip
    scores.to_csv(tmp_path / "s.csv", index=False)
    assert main(["predict", *paths, "--transfer", str(tmp_path / "s.csv"),
                 "--permutations", "0", "--out", str(tmp_path / "p")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    # before: "r2 -3094.1" for 5 models with no comment
    assert "R² is over 5 models" in out and "null_r2" in out


def test_profile_bootstrap_option_adds_standard_errors(tmp_path):
    from manifold.cli import main

    out = tmp_path / "b"
    assert main(["profile", "--model", "zoo:simclr_color_s0", "--data", "factor-mnist",
                 "--n-images", "40", "--n-views", "2", "--k", "5", "--families", "crop",
                 "--bootstrap", "3", "--quiet", "--out", str(out)]) == 0  # fmt: skip
    table = pd.read_csv(out / "profile.csv")
    assert (table["statistic"] == "se").sum() > 10


COUNTING_MODEL = """
import torch
from pathlib import Path

COUNT = Path(__file__).with_suffix(".count")


class Counting(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 16))

    def forward(self, x):
        COUNT.write_text(str(int(COUNT.read_text() or 0) + len(x)) if COUNT.exists()
                         else str(len(x)))
        return self.net(x)


def factory():
    torch.manual_seed(0)
    return Counting()
"""


def test_profile_runs_the_model_once_over_the_clean_images(tmp_path):
    from manifold.cli import main

    (tmp_path / "counting.py").write_text(COUNTING_MODEL)
    assert main(["profile", "--model", f"{tmp_path / 'counting.py'}:factory", "--data",
                 "factor-mnist", "--n-images", "30", "--n-views", "2", "--k", "5",
                 "--families", "crop", "--quiet", "--out", str(tmp_path / "o")]) == 0  # fmt: skip
    # 2 probe images, 30 clean images once, 30 x 2 crop views; no second pass for the figure
    assert int((tmp_path / "counting.count").read_text()) == 2 + 30 + 60
