"""End-to-end tests of the ``manifold`` command: profile -> cluster -> predict, and its errors.

The happy path runs ``python -m manifold`` in subprocesses on tiny settings (N = 60 images,
K = 3 views, k = 5, two families); the numbers it writes are checked against the library
called in-process on the same input. Error paths call :func:`manifold.cli.main` in-process
(the same code the command runs) and check the exit code and the one-line message; two of them
also run as subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from manifold.cli import main
from manifold.profiling import Profile

ZOO = ["random_init", "supervised", "simclr_t0.1", "simclr_t0.5", "barlow_l0.005"]
GROUPS = {
    "random_init": "random",
    "supervised": "supervised",
    "simclr_t0.1": "simclr",
    "simclr_t0.5": "simclr",
    "barlow_l0.005": "barlow",
}
TINY = ["--n-images", "60", "--n-views", "3", "--k", "5", "--families", "crop,flip", "--quiet"]


def run(*args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "manifold", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def check_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def section_ids(html: str) -> set[str]:
    from html.parser import HTMLParser

    ids: set[str] = set()

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "h2":
                ids.update(v for k, v in attrs if k == "id")

    Parser().feed(html)
    return ids


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "zoo"
    models = [x for name in ZOO for x in ("--model", f"zoo:{name}")]
    check_ok(run("profile", *models, *TINY, "--out", out))
    return out


@pytest.fixture(scope="module")
def groups_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("groups") / "groups.csv"
    pd.Series(GROUPS, name="group").rename_axis("model").to_csv(path)
    return path


def test_profile_zoo_models(zoo_run):
    from manifold.datasets import load_mnist, load_zoo
    from manifold.profiling import profile

    prof = Profile.load(zoo_run / "profile.csv")
    assert prof.models == ZOO
    assert set(prof.table["manifold"]) == {"semantic", "crop", "flip"}
    settings = prof.settings["supervised"]
    assert (settings["n_images"], settings["n_views"], settings["k"]) == (60, 3, 5)
    assert settings["families"] == ["crop", "flip"]

    # the same run in-process: the command must pass every setting through unchanged
    images, _ = load_mnist("test")
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:60]
    models, _ = load_zoo(["supervised"], zoo="mnist")
    ref = profile(models["supervised"], images[pick.sort().values], families=("crop", "flip"),
                  n_views=3, k=5, seed=0, name="supervised", progress=False)  # fmt: skip
    got = prof.to_matrix().loc["supervised"]
    want = ref.to_matrix().loc["supervised"]
    pd.testing.assert_series_equal(got[want.index], want, rtol=1e-6, check_names=False)

    matrix = pd.read_csv(zoo_run / "metrics_matrix.csv", index_col=0)
    assert list(matrix.index) == ZOO
    html = (zoo_run / "report.html").read_text()
    assert {"summary", "invariance", "spectra", "settings", "files"} <= section_ids(html)
    assert "http" not in html.split("<body>")[1]  # self-contained: nothing fetched
    assert (zoo_run / "figures" / "invariance_spread_ratio.png").stat().st_size > 1000


def test_profile_of_several_models_compares_them_directly(zoo_run):
    from manifold import similarity
    from manifold.datasets import load_mnist, load_zoo

    html = (zoo_run / "report.html").read_text()
    assert "similarity" in section_ids(html)
    matrix = pd.read_csv(zoo_run / "similarity_matrix.csv", index_col=0)
    assert list(matrix.index) == ZOO == list(matrix.columns)
    np.testing.assert_allclose(np.diag(matrix.to_numpy()), 1.0)
    # an entry is debiased CKA of the two models' embeddings of the run's images
    images, _ = load_mnist("test")
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:60]
    models, _ = load_zoo(["supervised", "simclr_t0.1"], zoo="mnist")
    with torch.no_grad():
        a, b = (models[n](images[pick.sort().values]) for n in ("supervised", "simclr_t0.1"))
    assert matrix.loc["supervised", "simclr_t0.1"] == pytest.approx(similarity(a, b).value,
                                                                    rel=1e-6)  # fmt: skip


def test_profile_embeddings_npz(tmp_path):
    import manifold

    rng = np.random.default_rng(0)
    z = rng.standard_normal((60, 12)).astype(np.float32)
    views = z[:, None, :] + 0.01 * rng.standard_normal((60, 3, 12)).astype(np.float32)
    np.savez(tmp_path / "emb.npz", z=z, views_crop=views)
    check_ok(run("profile", "--embeddings", tmp_path / "emb.npz", "--k", "5", "--quiet",
                 "--out", tmp_path / "out"))  # fmt: skip
    prof = Profile.load(tmp_path / "out" / "profile.csv")
    assert prof.models == ["emb"]
    assert set(prof.table["manifold"]) == {"semantic", "crop"}
    assert prof.value("rankme") == pytest.approx(manifold.rankme(z), rel=1e-6)
    assert prof.value("spread_ratio", "crop") == pytest.approx(
        manifold.spread_ratio(z, views, k=5).summary.mean, rel=1e-6
    )
    assert "invariance" in section_ids((tmp_path / "out" / "report.html").read_text())


def test_cluster(zoo_run, groups_csv, tmp_path):
    from sklearn.metrics import adjusted_rand_score

    from manifold.zoo import cluster_models

    out = tmp_path / "cluster"
    # a folder is searched for profile tables (metrics_matrix.csv is not one and is skipped)
    check_ok(run("cluster", zoo_run, "--groups", groups_csv, "--out", out))
    labels = pd.read_csv(out / "clusters.csv", index_col="model")
    assert list(labels.index) == ZOO
    assert {"cluster", "group", "mds1", "mds2"} <= set(labels.columns)
    summary = json.loads((out / "clusters.json").read_text())
    assert summary["n_clusters"] == 4  # the number of distinct groups
    assert summary["adjusted_rand_index"] == pytest.approx(
        adjusted_rand_score(labels["group"], labels["cluster"])
    )
    ref = cluster_models(Profile.load(zoo_run / "profile.csv"), groups=GROUPS)
    assert labels["cluster"].tolist() == ref.labels.tolist()
    for name in ("dendrogram", "model_map"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
    assert "clusters" in section_ids((out / "report.html").read_text())


def test_predict(zoo_run, tmp_path):
    from manifold.datasets import load_transfer
    from manifold.zoo import TransferPredictor

    out = tmp_path / "predict"
    check_ok(run("predict", zoo_run / "profile.csv", "--permutations", "5", "--out", out))
    table = pd.read_csv(out / "transfer_evaluation.csv", index_col="task")
    scores = load_transfer(zoo="mnist")
    assert list(table.index) == list(scores.columns)
    assert (table["n_models"] == len(ZOO)).all()
    matrix = Profile.load(zoo_run / "profile.csv").to_matrix()
    ref = TransferPredictor().evaluate(matrix, scores.loc[ZOO], n_permutations=5, seed=0).table
    np.testing.assert_allclose(table["r2"], ref["r2"], rtol=1e-9)
    np.testing.assert_allclose(table["p_value"], ref["p_value"])
    preds = pd.read_csv(out / "transfer_predictions.csv")
    assert len(preds) == len(ZOO) * len(scores.columns)
    assert (out / "figures" / "transfer_predictions.png").stat().st_size > 1000
    assert "transfer" in section_ids((out / "report.html").read_text())


def test_predict_custom_table_and_missing_models(zoo_run, tmp_path):
    scores = pd.DataFrame({"model": ZOO[:4], "task": [1.0, 2.0, 4.0, 3.0]})
    scores.to_csv(tmp_path / "t.csv", index=False)
    assert main(["predict", str(zoo_run), "--transfer", str(tmp_path / "t.csv"),
                 "--permutations", "0", "--out", str(tmp_path / "p")]) == 0  # fmt: skip
    table = pd.read_csv(tmp_path / "p" / "transfer_evaluation.csv", index_col="task")
    assert list(table.index) == ["task"] and table.loc["task", "n_models"] == 4


def test_predict_with_groups_and_a_reference(zoo_run, tmp_path, capsys):
    from manifold.datasets import load_transfer
    from manifold.zoo import TransferPredictor

    groups = pd.Series(GROUPS, name="group")
    groups.rename_axis("model").reset_index().to_csv(tmp_path / "g.csv", index=False)
    meta = pd.DataFrame({"model": ZOO, "trained": [0.0, 1.0, 1.0, 1.0, 1.0],
                         "method": [GROUPS[m] for m in ZOO]})  # fmt: skip
    meta.to_csv(tmp_path / "meta.csv", index=False)
    out = tmp_path / "p"
    args = ["predict", str(zoo_run), "--groups", str(tmp_path / "g.csv"), "--reference",
            str(tmp_path / "meta.csv"), "--permutations", "3", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    table = pd.read_csv(out / "transfer_evaluation.csv", index_col="task")
    matrix = Profile.load(zoo_run / "profile.csv").to_matrix()
    ref = TransferPredictor().evaluate(
        matrix, load_transfer(zoo="mnist").loc[ZOO], groups=groups, n_permutations=3, seed=0,
        reference=meta.set_index("model"))  # fmt: skip
    for column in ("spearman", "reference_spearman", "combined_spearman", "gain_spearman",
                   "gain_spearman_low", "p_value"):  # fmt: skip
        np.testing.assert_allclose(table[column], ref.table[column], rtol=1e-9)
    printed = capsys.readouterr().out
    assert "the reference alone: rho" in printed and "gain" in printed
    assert "leave one group out (4 groups" in printed
    # a model without a group or a reference row is named
    meta.iloc[1:].to_csv(tmp_path / "short.csv", index=False)
    assert main(["predict", str(zoo_run), "--reference", str(tmp_path / "short.csv"),
                 "--permutations", "0", "--out", str(tmp_path / "q")]) == 2  # fmt: skip
    assert "no row for models" in capsys.readouterr().err
    assert main(["predict", str(zoo_run), "--hold-out", "group", "--permutations", "0",
                 "--out", str(tmp_path / "r")]) == 2  # fmt: skip
    assert "--hold-out group needs --groups" in capsys.readouterr().err


def test_select_ranks_like_the_library(zoo_run, tmp_path, capsys):
    from manifold.zoo import select

    out = tmp_path / "s"
    assert main(["select", str(zoo_run), "--by", "alpha", "--out", str(out)]) == 0
    table = pd.read_csv(out / "selection.csv", index_col="model")
    ref = select(Profile.load(zoo_run / "profile.csv"), by="alpha")
    assert list(table.index) == list(ref.index)
    np.testing.assert_allclose(table["score"], ref["score"])
    assert f"best by alpha: {ref.index[0]}" in capsys.readouterr().out
    # a predictor must be fitted on other models than the candidates
    scores = pd.DataFrame({"model": ZOO, "task": [1.0, 2.0, 4.0, 3.0, 5.0]})
    scores.to_csv(tmp_path / "t.csv", index=False)
    assert main(["select", str(zoo_run), "--fit", str(zoo_run), "--transfer",
                 str(tmp_path / "t.csv"), "--out", str(tmp_path / "s2")]) == 2  # fmt: skip
    assert "both candidates and --fit models" in capsys.readouterr().err
    assert main(["select", str(zoo_run), "--fit", str(zoo_run), "--out",
                 str(tmp_path / "s3")]) == 2  # fmt: skip
    assert "--fit needs --transfer" in capsys.readouterr().err


@pytest.fixture
def bad_inputs(tmp_path) -> dict[str, Path]:
    garbage = tmp_path / "model.pt"
    garbage.write_bytes(b"not a model")
    mismatch = tmp_path / "mismatch.npz"
    np.savez(mismatch, z=np.zeros((20, 8)), views_crop=np.zeros((20, 3, 5)))
    return {"garbage": garbage, "mismatch": mismatch, "tmp": tmp_path}


ERRORS = {
    "bad embeddings path": (
        ["profile", "--embeddings", "{tmp}/nope.npz"],
        "embeddings file {tmp}/nope.npz does not exist",
    ),
    "bad data folder": (
        ["profile", "--model", "zoo:supervised", "--data", "{tmp}/no_such_folder"],
        "data folder {tmp}/no_such_folder does not exist",
    ),
    "bad profile path": (["cluster", "{tmp}/none.csv"], "profile {tmp}/none.csv does not exist"),
    "bad transfer path": (
        ["predict", "{tmp}/none.csv", "--transfer", "{tmp}/none.csv"],
        "transfer table {tmp}/none.csv does not exist",
    ),
    "unknown family": (
        ["profile", "--model", "zoo:supervised", "--families", "crop,twirl"],
        "unknown augmentation family 'twirl'",
    ),
    "unreadable model": (["profile", "--model", "{garbage}"], "as a TorchScript model"),
    "missing model file": (["profile", "--model", "{tmp}/absent.pt"], "does not exist"),
    "shape mismatch": (
        ["profile", "--embeddings", "{mismatch}"],
        "views for 'crop' have shape (20, 3, 5) but z is (20, 8)",
    ),
    "unknown zoo name": (["profile", "--model", "zoo:nope"], "unknown zoo model 'nope'"),
    "model does not fit the data": (
        ["profile", "--model", "zoo:supervised", "--data", "photos", "--n-images", "2"],
        "cannot embed images of shape (3,",
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_error_is_one_line(case, bad_inputs, capsys):
    args, message = ERRORS[case]
    fill = {k: str(v) for k, v in bad_inputs.items()}
    args = [a.format(**fill) for a in args] + ["--out", str(bad_inputs["tmp"] / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"manifold {args[0]}: error: ")
    assert message.format(**fill) in lines[0]


def test_error_subprocess_and_verbose(bad_inputs):
    result = run("profile", "--embeddings", bad_inputs["mismatch"])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "views for 'crop'" in result.stderr
    verbose = run("profile", "--embeddings", bad_inputs["mismatch"], "--verbose")
    assert verbose.returncode != 0 and "Traceback" in verbose.stderr


def test_cluster_needs_groups_for_every_model(zoo_run, tmp_path, capsys):
    pd.DataFrame({"model": ZOO[:2], "group": ["a", "b"]}).to_csv(tmp_path / "g.csv", index=False)
    assert main(["cluster", str(zoo_run), "--groups", str(tmp_path / "g.csv"),
                 "--out", str(tmp_path / "c")]) == 2  # fmt: skip
    assert "no group for models ['simclr_t0.1', 'simclr_t0.5', 'barlow_l0.005']" in (
        capsys.readouterr().err
    )


def test_demo_quick_on_tiny_sizes(tmp_path):
    out = tmp_path / "demo"
    check_ok(run("demo", "--quick", "--n-images", "40", "--n-views", "2", "--k", "5",
                 "--families", "crop,flip", "--permutations", "0", "--quiet",
                 "--out", out))  # fmt: skip
    html = (out / "report.html").read_text()
    assert {"summary", "invariance", "spectra", "clusters", "transfer"} <= section_ids(html)
    from manifold.cli import QUICK_MODELS

    assert Profile.load(out / "profile.csv").models == list(QUICK_MODELS)
    # the controls are profiled but kept out of the clustering and of the transfer statistics
    ssl = [m for m in QUICK_MODELS if not m.startswith(("random", "supervised"))]
    assert pd.read_csv(out / "clusters.csv")["model"].tolist() == ssl
    summary = json.loads((out / "clusters.json").read_text())
    assert summary["n_models"] == len(ssl)
    evaluation = pd.read_csv(out / "transfer_evaluation.csv")
    assert len(evaluation) == 6 and (evaluation["n_models"] == len(ssl)).all()
    assert "rankme_spearman" in evaluation.columns and "regret" in evaluation.columns
