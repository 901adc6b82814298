"""A finished run is never lost and never stale: the command's output rule and the checkpoints.

The rule of every command: everything is validated before the output folder is touched; the
new run is written to a staging folder beside ``--out`` and swapped in at the end, so the
earlier run survives any failure; an output folder that is, or holds, an input is refused;
a part that failed exits non-zero unless ``--keep-going``. ``profile_zoo``'s checkpoints are
keyed by the model's state after its factory returns, so retrained weights are never reused.

Each test runs :func:`manifold.cli.main` in-process on tiny inputs (grey 8x8 images, models
from a ``module.py:factory`` file) and failed on the code before the fix.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from manifold.cli import main
from manifold.profiling import Profile

TINY = ["--n-images", "30", "--n-views", "2", "--k", "5", "--families", "flip", "--quiet"]

MODELS = """
import torch
from pathlib import Path
from torch import nn

HERE = Path(__file__).parent
CALLS = {"n": 0}


def _net(seed, channels=1):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(channels, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten())


def a():
    return _net(0)


def b():
    return _net(1)


def c():
    return _net(2)


def d():
    return _net(6)


def rgb():
    return _net(3, channels=3)


class Flaky(nn.Module):
    # fails from its third forward pass on: the probe and the clean images pass, the views fail
    def __init__(self):
        super().__init__()
        self.net = _net(4)

    def forward(self, x):
        CALLS["n"] += 1
        if CALLS["n"] > 2:
            raise RuntimeError("flaky device")
        return self.net(x)


def flaky():
    CALLS["n"] = 0
    return Flaky()


def trained():
    model = _net(5)
    model.load_state_dict(torch.load(HERE / "trained.pt", weights_only=True))
    return model
"""


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """A grey ImageFolder (two class subfolders) and a file of model factories."""
    root = tmp_path_factory.mktemp("own")
    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (root / "images" / label).mkdir(parents=True)
        for i in range(15):
            pixels = (rng.random((8, 8)) * 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / "images" / label / f"{i}.png")
    (root / "models.py").write_text(MODELS)
    return root


def _model(own: Path, factory: str) -> str:
    return f"{own / 'models.py'}:{factory}"


def _profile(own: Path, out: Path, *extra: str, factory: str = "a", data: Path | None = None):
    data = own / "images" if data is None else data
    return main(
        [
            "profile",
            "--model",
            _model(own, factory),
            "--data",
            str(data),
            *TINY,
            "--out",
            str(out),
            *extra,
        ]
    )


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> sha256 of its bytes)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _no_staging_left(parent: Path) -> None:
    leftovers = [p.name for p in parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], leftovers


@pytest.fixture(scope="module")
def good_run(own, tmp_path_factory):
    """A finished profile of four models in one folder (profile.csv, report, figures)."""
    out = tmp_path_factory.mktemp("runs") / "zoo"
    args = [x for f in "abcd" for x in ("--model", _model(own, f), "--name", f)]
    assert main(["profile", *args, "--data", str(own / "images"), *TINY, "--out", str(out)]) == 0
    return out


# -- 1. an output folder that is, or holds, an input ----------------------------------------
@pytest.mark.parametrize("command", ["cluster", "predict"])
@pytest.mark.parametrize("where", ["folder", "file"])
def test_an_output_folder_holding_the_input_is_refused(good_run, command, where, tmp_path, capsys):
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(good_run, runs / "zoo")
    before = _snapshot(runs / "zoo")
    source = runs / "zoo" if where == "folder" else runs / "zoo" / "profile.csv"
    extra = []
    if command == "predict":
        scores = pd.DataFrame({"model": list("abcd"), "task": [0.1, 0.2, 0.4, 0.3]})
        scores.to_csv(tmp_path / "scores.csv", index=False)
        extra = ["--transfer", str(tmp_path / "scores.csv"), "--permutations", "0"]
    # before: "removed 6 file(s) of an earlier run from runs/zoo": the profile was deleted
    assert main([command, str(source), *extra, "--out", str(runs / "zoo")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "input" in err[0], err
    assert _snapshot(runs / "zoo") == before
    _no_staging_left(runs)


def test_a_data_folder_around_the_output_is_refused(own, tmp_path, capsys):
    import shutil

    data = tmp_path / "images"
    shutil.copytree(own / "images", data)
    # the report's figures would be read as images by the next run on that folder
    assert _profile(own, data / "run", data=data) == 2
    assert "inside the --data folder" in capsys.readouterr().err
    assert not (data / "run").exists()


# -- 2. validation before the output folder is touched --------------------------------------
MISTAKES = {
    "one view": ["--n-views", "1"],
    "k above N": ["--k", "500"],
    "unknown layer": ["--layer", "nope"],
    "grey model on RGB data": ["--channels", "3"],
    "bootstrap of one": ["--bootstrap", "1"],
}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_a_rerun_with_a_mistake_keeps_the_earlier_run(own, tmp_path, case, capsys):
    out = tmp_path / "out"
    assert _profile(own, out) == 0
    before = _snapshot(out)
    capsys.readouterr()
    # before: "removed 6 file(s) of an earlier run", then the error: the folder was left empty
    with pytest.raises(SystemExit) if case in ("one view", "bootstrap of one") else _nothing():
        assert _profile(own, out, *MISTAKES[case]) == 2
    captured = capsys.readouterr()
    assert "removed" not in captured.out
    assert _snapshot(out) == before
    _no_staging_left(tmp_path)


def test_a_rerun_of_embeddings_with_missing_families_keeps_the_earlier_run(tmp_path, capsys):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((30, 6)).astype(np.float32)
    np.savez(tmp_path / "emb.npz", z=z, views_crop=z[:, None] + 0.1 * rng.random((30, 3, 6)))
    out = tmp_path / "out"
    args = ["profile", "--embeddings", str(tmp_path / "emb.npz"), "--k", "5", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    before = _snapshot(out)
    assert main([*args, "--families", "crop,flip", "--out", str(out)]) == 2
    assert "no views for ['flip']" in capsys.readouterr().err
    assert _snapshot(out) == before


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_failure_while_writing_keeps_the_earlier_run(own, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _profile(own, out) == 0
    before = _snapshot(out)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("manifold.report.write_report", broken)
    assert _profile(own, out, factory="b") == 2
    assert _snapshot(out) == before
    _no_staging_left(tmp_path)


def test_a_successful_rerun_replaces_the_whole_earlier_run(own, tmp_path):
    out = tmp_path / "out"
    assert _profile(own, out) == 0
    (out / "figures" / "stale.png").write_bytes(b"an earlier run's figure")
    (out / "notes.txt").write_text("the user's own file")
    assert _profile(own, out, "--name", "other", factory="b") == 0
    assert Profile.load(out / "profile.csv").models == ["other"]
    assert not (out / "figures" / "stale.png").exists()
    assert (out / "notes.txt").read_text() == "the user's own file"
    _no_staging_left(tmp_path)


# -- 3. checkpoints follow the weights a factory loads --------------------------------------
def test_retrained_weights_are_not_read_from_stale_checkpoints(own, tmp_path):
    from manifold.runner import profile_zoo

    images = torch.rand(30, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    weights = own / "trained.pt"
    spec = {"trained": _model(own, "trained")}
    settings = dict(families=("flip",), n_views=2, k=5, progress=False)

    def save_weights(seed: int) -> None:
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 6, 3),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(2),
            torch.nn.Flatten(),
        )
        torch.save(net.state_dict(), weights)

    save_weights(10)
    first = profile_zoo(spec, images, checkpoint_dir=tmp_path / "ckpt", **settings)
    save_weights(11)  # the model is retrained: same factory, same file name, new weights
    again = profile_zoo(spec, images, checkpoint_dir=tmp_path / "ckpt", **settings)
    fresh = profile_zoo(spec, images, **settings)
    # before: the checkpoint of the old weights was reused (RankMe of the old model)
    assert again.value("rankme") != first.value("rankme")
    pd.testing.assert_frame_equal(again.table, fresh.table)
    assert again.settings["trained"]["fingerprint"] != first.settings["trained"]["fingerprint"]
    # unchanged weights: the checkpoint is read back, not recomputed
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "ckpt").glob("*.json")}
    third = profile_zoo(spec, images, checkpoint_dir=tmp_path / "ckpt", **settings)
    pd.testing.assert_frame_equal(third.table, fresh.table)
    assert {p: p.stat().st_mtime_ns for p in written} == written


# -- 4. a failed part is an error unless --keep-going ---------------------------------------
def test_a_failed_family_exits_non_zero(own, tmp_path, capsys):
    out = tmp_path / "out"
    assert _profile(own, out) == 0
    before = _snapshot(out)
    capsys.readouterr()
    # before: exit 0 with "note: flaky: flip/views not computed" and blank columns
    code = _profile(own, out, factory="flaky")
    assert code == 1
    err = capsys.readouterr().err
    assert "flip/views" in err and "--keep-going" in err
    assert _snapshot(out) == before  # the earlier run is kept
    partial = tmp_path / "out.partial"
    kept = Profile.load(partial / "profile.csv")  # the finished parts are not lost
    assert kept.models == ["flaky"] and any(f["metric"] == "views" for f in kept.failures)


def test_keep_going_writes_the_run_and_lists_the_failure(own, tmp_path, capsys):
    out = tmp_path / "out"
    assert _profile(own, out, "--keep-going", factory="flaky") == 0
    page = (out / "report.html").read_text()
    assert 'id="failures"' in page and "flaky device" in page
    assert "failed" in capsys.readouterr().out


def test_a_failed_model_exits_non_zero_and_keeps_the_others(own, tmp_path, capsys):
    out = tmp_path / "out"
    args = [
        "--model",
        _model(own, "a"),
        "--name",
        "a",
        "--model",
        _model(own, "flaky"),
        "--name",
        "flaky",
        "--model",
        _model(own, "b"),
        "--name",
        "b",
    ]
    assert main(["profile", *args, "--data", str(own / "images"), *TINY, "--out", str(out)]) == 1
    assert not out.exists()
    assert Profile.load(tmp_path / "out.partial" / "profile.csv").models == ["a", "flaky"]
    capsys.readouterr()
    assert (
        main(
            [
                "profile",
                *args,
                "--data",
                str(own / "images"),
                *TINY,
                "--keep-going",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert Profile.load(out / "profile.csv").models == ["a", "flaky", "b"]
    # the partial results of the failed run are superseded by the finished one
    assert not (tmp_path / "out.partial").exists()


def test_a_failed_comparison_keeps_the_finished_profile(own, tmp_path, capsys, monkeypatch):
    """The direct comparison runs after every model is profiled: its failure loses nothing."""
    import manifold.zoo

    def broken(*args, **kwargs):
        raise RuntimeError("device lost while comparing")

    monkeypatch.setattr(manifold.zoo, "similarity_matrix", broken)
    out = tmp_path / "out"
    args = ["--model", _model(own, "a"), "--name", "a", "--model", _model(own, "b"), "--name", "b"]
    assert main(["profile", *args, "--data", str(own / "images"), *TINY, "--out", str(out)]) == 0
    assert Profile.load(out / "profile.csv").models == ["a", "b"]
    assert not (out / "similarity_matrix.csv").exists()
    said = capsys.readouterr().out
    assert "was not computed: device lost while comparing" in said
    assert "device lost while comparing" in (out / "report.html").read_text()


def test_a_failed_report_keeps_the_finished_tables(own, tmp_path, capsys, monkeypatch):
    """The report is drawn after the tables are written: its failure keeps them in .partial."""
    import manifold.report

    def broken(*args, **kwargs):
        raise RuntimeError("no space left to draw")

    out = tmp_path / "out"
    assert _profile(own, out) == 0
    before = _snapshot(out)
    monkeypatch.setattr(manifold.report, "write_report", broken)
    capsys.readouterr()
    assert _profile(own, out, factory="b") == 2
    said = capsys.readouterr()
    assert "no space left to draw" in said.err
    assert _snapshot(out) == before  # the earlier run is untouched
    kept = Profile.load(tmp_path / "out.partial" / "profile.csv")
    assert kept.models == ["b"]
    assert "is kept in" in said.out and "out.partial" in said.out
    _no_staging_left(tmp_path)


def test_a_new_output_folder_gets_a_plain_folders_mode(tmp_path):
    import os
    import stat

    rng = np.random.default_rng(0)
    np.save(tmp_path / "z.npy", rng.standard_normal((30, 4)).astype(np.float32))
    out = tmp_path / "fresh"
    assert main(["profile", "--embeddings", str(tmp_path / "z.npy"), "--k", "5", "--quiet",
                 "--out", str(out)]) == 0  # fmt: skip
    umask = os.umask(0)
    os.umask(umask)
    # the staging folder, renamed to --out, was private (0700) like every mkdtemp folder
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
