"""Own checkpoints, own images, own scores: the right advice and honest verdicts.

Each test pins one thing a new user met with an own small CNN, own PNGs, a made-up scores
table and precomputed embeddings, and failed on the code before the fix: model files
(state dicts, pickled models, ``torch.export`` archives), model names, ``--resize`` and the
flags named in errors, the images' fingerprint in the settings, ``predict``'s verdicts and
score tables.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from manifold.cli import main
from manifold.profiling import Profile, profile
from manifold.runner import load_model

TINY = ["--n-images", "30", "--n-views", "2", "--k", "5", "--families", "flip", "--quiet"]


def _net(seed: int = 0, channels: int = 1) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(channels, 6, 3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """30 grey 8x8 PNGs in two class folders."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir()
        for i in range(15):
            pixels = (rng.random((8, 8)) * 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / label / f"{i}.png")
    return root


# -- 5. model files ------------------------------------------------------------------------
def test_a_state_dict_is_recognised_and_needs_an_architecture(tmp_path):
    torch.save(_net().state_dict(), tmp_path / "weights.pt")
    torch.save({"state_dict": _net().state_dict(), "epoch": 3}, tmp_path / "checkpoint.pt")
    # before: "cannot read ... as a TorchScript model (... corrupted ...)"
    with pytest.raises(
        ValueError,
        match=r"holds a state_dict \(2 tensors, e.g. '0.weight'\)"
        r".*architecture.*module.py:",
    ):
        load_model(str(tmp_path / "weights.pt"))
    with pytest.raises(ValueError, match=r"state_dict.*\['state_dict'\]"):
        load_model(str(tmp_path / "checkpoint.pt"))


def test_a_pickled_model_is_recognised_and_not_unpickled(tmp_path):
    torch.save(_net(), tmp_path / "whole.pt")
    with pytest.raises(
        ValueError,
        match=r"whole pickled model.*torch.save\(model\).*"
        r"torch.export",
    ):
        load_model(str(tmp_path / "whole.pt"))


@pytest.mark.parametrize("dynamic", [True, False])
def test_a_torch_export_archive_is_loaded(tmp_path, dynamic):
    net = _net(3).eval()
    example = (torch.rand(2, 1, 8, 8),)
    shapes = ({0: torch.export.Dim("batch")},) if dynamic else None
    torch.export.save(
        torch.export.export(net, example, dynamic_shapes=shapes), tmp_path / "net.pt2"
    )
    # before: "cannot read net.pt2 as a TorchScript model"
    model = load_model(str(tmp_path / "net.pt2"))
    x = torch.rand(7, 1, 8, 8)  # another batch size than the export's (2): split when fixed
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x))


def test_a_torch_export_archive_runs_through_the_command(tmp_path, folder):
    net = _net(3).eval()
    example = (torch.rand(2, 1, 8, 8),)
    torch.export.save(torch.export.export(net, example), tmp_path / "encoder.pt2")
    assert (
        main(
            [
                "profile",
                "--model",
                str(tmp_path / "encoder.pt2"),
                "--data",
                str(folder),
                *TINY,
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    got = Profile.load(tmp_path / "out" / "profile.csv")
    assert got.models == ["encoder"]
    from manifold.datasets import load_image_folder

    images, _ = load_image_folder(folder)
    want = profile(net, images, families="flip", n_views=2, k=5, name="encoder", progress=False)
    pd.testing.assert_series_equal(
        got.to_matrix().loc["encoder"], want.to_matrix().loc["encoder"], rtol=1e-5
    )


def test_torchscript_still_loads_without_torch_deprecation_noise(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(_net()), tmp_path / "script.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = load_model(str(tmp_path / "script.pt"))
    assert isinstance(model, torch.nn.Module)


# -- 6. names ------------------------------------------------------------------------------
FACTORIES = """
import torch


def a():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(1))


def b():
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(1))
"""


def test_two_factories_of_one_file_get_their_own_names(tmp_path, folder):
    (tmp_path / "models.py").write_text(FACTORIES)
    specs = [f"{tmp_path / 'models.py'}:{f}" for f in ("a", "b")]
    # before: both were named 'models', and the error said only "the same name"
    code = main(
        [
            "profile",
            "--model",
            specs[0],
            "--model",
            specs[1],
            "--data",
            str(folder),
            *TINY,
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    assert Profile.load(tmp_path / "out" / "profile.csv").models == ["a", "b"]


def test_a_name_clash_names_both_models(tmp_path, folder, capsys):
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "models.py").write_text(FACTORIES)
    specs = [f"{tmp_path / sub / 'models.py'}:a" for sub in ("x", "y")]
    assert (
        main(
            [
                "profile",
                "--model",
                specs[0],
                "--model",
                specs[1],
                "--data",
                str(folder),
                *TINY,
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert specs[0] in err and specs[1] in err and "'a'" in err and "--name" in err


# -- 7. --resize and flags in errors -------------------------------------------------------
def test_resize_reads_a_folder_of_mixed_sizes(tmp_path, capsys):
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    for i, size in enumerate([(8, 8), (12, 10), (16, 16)] * 4):
        pixels = (rng.random(size) * 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(tmp_path / "images" / f"{i}.png")
    model = tmp_path / "m.py"
    model.write_text(
        "import torch\n\ndef f():\n    torch.manual_seed(0)\n    return "
        "torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 6))\n"
    )
    args = [
        "profile",
        "--model",
        f"{model}:f",
        "--data",
        str(tmp_path / "images"),
        "--n-views",
        "2",
        "--k",
        "3",
        "--families",
        "flip",
        "--quiet",
    ]
    # before: "resize them to one size first", and the command had no way to
    assert main([*args, "--out", str(tmp_path / "o1")]) == 2
    assert "--resize H[,W]" in capsys.readouterr().err
    assert main([*args, "--resize", "8", "--out", str(tmp_path / "o2")]) == 0
    settings = json.loads((tmp_path / "o2" / "profile.json").read_text())["settings"]["f"]
    assert settings["resize"] == [8, 8] and settings["n_images"] == 12


def test_a_channel_mismatch_names_the_flag_that_fixes_it(tmp_path, folder, capsys):
    (tmp_path / "m.py").write_text(
        "import torch\n\ndef rgb():\n    return torch.nn.Sequential("
        "torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())\n"
    )
    assert (
        main(
            [
                "profile",
                "--model",
                f"{tmp_path / 'm.py'}:rgb",
                "--data",
                str(folder),
                *TINY,
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    # before: "pick --data that matches the model's input"
    assert "the model takes 3-channel images and the data has 1: add --channels 3" in err


def test_a_size_mismatch_names_resize(tmp_path, folder, capsys):
    (tmp_path / "m.py").write_text(
        "import torch\n\ndef big():\n    return torch.nn.Sequential("
        "torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 4))\n"
    )
    assert (
        main(
            [
                "profile",
                "--model",
                f"{tmp_path / 'm.py'}:big",
                "--data",
                str(folder),
                *TINY,
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--resize H[,W]" in err and "--channels" in err


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--n-views", "1"], "--n-views"),
        (["--bootstrap", "1"], "--bootstrap"),
        (["--resize", "0"], "--resize"),
    ],
)
def test_bad_values_are_named_by_their_flag(tmp_path, folder, capsys, flags, named):
    with pytest.raises(SystemExit):
        main(["profile", "--model", "zoo:simclr_t0.1", "--data", str(folder), *flags])
    err = capsys.readouterr().err
    assert f"argument {named}" in err and "n_views" not in err and "n_bootstrap" not in err


def test_an_output_choice_error_names_the_flag(tmp_path, folder, capsys):
    (tmp_path / "m.py").write_text(
        "import torch\n\nclass Two(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x.flatten(1), x.mean((2, 3))\n\n"
        "def two():\n    return Two()\n"
    )
    assert (
        main(
            [
                "profile",
                "--model",
                f"{tmp_path / 'm.py'}:two",
                "--data",
                str(folder),
                *TINY,
                "--output",
                "5",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--output 5 is out of range" in err and "output=" not in err
    assert "--channels" not in err  # the images were fine


# -- 8. the images are in the settings -----------------------------------------------------
def test_the_images_fingerprint_is_recorded_and_mismatches_are_noted(tmp_path, capsys):
    from manifold.runner import profile_zoo

    rng = torch.Generator().manual_seed(0)
    images = torch.rand(30, 1, 8, 8, generator=rng)
    other = torch.rand(30, 1, 8, 8, generator=rng)
    settings = dict(families="flip", n_views=2, k=5, progress=False)
    one = profile(_net(0), images, name="m0", **settings)
    zoo = profile_zoo({"m1": _net(1), "m2": _net(2)}, images, **settings)
    elsewhere = profile(_net(3), other, name="m3", **settings)
    # the same images give the same fingerprint in both drivers, other images another one
    assert one.settings["m0"]["data_fingerprint"] == zoo.settings["m1"]["data_fingerprint"]
    assert one.settings["m0"]["data_fingerprint"] != elsewhere.settings["m3"]["data_fingerprint"]
    paths = [str(p.save(tmp_path / f"{i}.csv")) for i, p in enumerate([one, zoo, elsewhere])]
    # before: profiles of different images were clustered together without a word
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["cluster", *paths, "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "images (data_fingerprint)" in out and "(m3)" in out


# -- 9 and 10. predict: verdicts, units, baselines, score tables ---------------------------
def _profiles(tmp_path: Path, n: int = 6) -> list[str]:
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        z = rng.standard_normal((40, 8)) * (1 + i) @ rng.standard_normal((8, 8))
        prof = profile(z, k=5, name=f"net_{i}", progress=False)
        paths.append(str(prof.save(tmp_path / f"p{i}.csv")))
    return paths


def _predict(tmp_path: Path, scores: pd.DataFrame, *extra: str) -> int:
    scores.to_csv(tmp_path / "scores.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main(
            [
                "predict",
                *_profiles(tmp_path),
                "--transfer",
                str(tmp_path / "scores.csv"),
                "--out",
                str(tmp_path / "p"),
                *extra,
            ]
        )


def test_verdicts_use_the_interval_and_the_p_value_together():
    from manifold.report import transfer_verdict
    from manifold.zoo import TransferEvaluation

    def verdict(**row):
        table = pd.DataFrame([row], index=pd.Index(["t"], name="task"))
        return transfer_verdict(TransferEvaluation(table, pd.DataFrame()), "t")

    # before: "no evidence" at p = 0.010 (the interval included 0), "above chance" elsewhere
    mixed = verdict(spearman=0.86, spearman_low=-0.09, spearman_high=1.0, p_value=0.01, regret=0.0)
    assert "weak evidence" in mixed and "disagree" in mixed
    yes = verdict(spearman=0.9, spearman_low=0.5, spearman_high=1.0, p_value=0.01, regret=0.0)
    assert "above chance" in yes
    no = verdict(spearman=0.2, spearman_low=-0.5, spearman_high=0.8, p_value=0.4, regret=0.0)
    assert "no evidence" in no
    # before: "better than RankMe" for 0.89 vs 0.86, with overlapping intervals
    close = verdict(
        spearman=0.89,
        spearman_low=0.5,
        spearman_high=1.0,
        p_value=0.01,
        regret=0,
        rankme_spearman=0.86,
        rankme_spearman_low=0.4,
        rankme_spearman_high=1.0,
    )
    assert "not distinguishable from RankMe alone (higher is better)" in close
    assert "better than" not in close and "worse than" not in close
    clear = verdict(
        spearman=0.95,
        spearman_low=0.8,
        spearman_high=1.0,
        p_value=0.01,
        regret=0,
        rankme_spearman=0.1,
        rankme_spearman_low=-0.3,
        rankme_spearman_high=0.5,
    )
    assert "better than RankMe alone" in clear


def test_regret_is_in_the_scores_own_units(tmp_path, capsys):
    scores = pd.DataFrame(
        {"model": [f"net_{i}" for i in range(6)], "accuracy": [0.61, 0.52, 0.70, 0.55, 0.66, 0.58]}
    )
    assert _predict(tmp_path, scores, "--permutations", "9") == 0
    out = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "p" / "transfer_evaluation.csv", index_col="task")
    regret = table.loc["accuracy", "regret"]
    # before: "costs 0.0 points" (rounded as if the scores were 0-100)
    assert "points" not in out
    if regret > 0:
        assert f"costs {regret:.3g} in the scores' own units" in out
        assert f"{regret / (0.70 - 0.52):.0%} of their range" in out
    else:
        assert "regret 0" in out
    # the baselines are on stdout, not only in the csv
    assert "rankme_spearman" in out and "RankMe alone" in out


def test_an_unknown_model_name_suggests_the_close_match(tmp_path, capsys):
    names = [f"net_{i}" for i in range(5)] + ["net-5"]  # a typo: the profile says net_5
    scores = pd.DataFrame({"model": names, "task": [1.0, 2.0, 4.0, 3.0, 5.0, 6.0]})
    assert _predict(tmp_path, scores, "--permutations", "0") == 0
    out = capsys.readouterr().out
    # before: net_5 was only "left out"
    assert "'net-5'" in out and "did you mean 'net_5'" in out


def test_a_constant_task_gets_a_note_not_a_row_of_nan(tmp_path, capsys):
    scores = pd.DataFrame(
        {
            "model": [f"net_{i}" for i in range(6)],
            "task": [1.0, 2.0, 4.0, 3.0, 5.0, 6.0],
            "flat": [0.5] * 6,
        }
    )
    assert _predict(tmp_path, scores, "--permutations", "0") == 0
    out = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "p" / "transfer_evaluation.csv", index_col="task")
    # before: a row of NaN for 'flat' with no word
    assert list(table.index) == ["task"]
    assert "task 'flat' has the same score (0.5) for every model" in out


# -- 12. help and docs ---------------------------------------------------------------------
def test_families_help_lists_every_family(capsys):
    from manifold.augment import FAMILIES

    with pytest.raises(SystemExit):
        main(["profile", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    # before: "comma-separated augmentation families (default: crop,color,rotation,flip,blur)"
    assert f"of {', '.join(FAMILIES)}" in text and "ssl" in FAMILIES


def test_every_flag_in_the_cli_page_exists():
    import re

    from manifold.cli import build_parser

    page = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    blocks = re.findall(r"```text\n(manifold (\w+) .*?)```", page, re.S)
    assert {name for _, name in blocks} == set(commands)
    for block, name in blocks:
        known = {s for a in commands[name]._actions for s in a.option_strings}
        documented = set(re.findall(r"(--[a-z][a-z-]*)", block))
        # before: docs/cli.md documented demo --no-efficientnet, which does not exist
        assert documented <= known, (name, sorted(documented - known))
