"""``manifold compare``: two checkpoints, embeddings files and the bundled zoo.

The command runs in-process through :func:`manifold.cli.main` (the code the command runs) on
tiny settings; the numbers it writes are checked against :func:`manifold.similarity` called on
the same embeddings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from manifold import Embedder, similarity
from manifold.cli import main
from manifold.datasets import load_factor_mnist, load_zoo


def tiny_net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())  # fmt: skip


def read_outputs(out):
    matrix = pd.read_csv(out / "similarity_matrix.csv", index_col=0)
    pairs = pd.read_csv(out / "similarity_pairs.csv")
    assert (out / "similarity.png").stat().st_size > 0
    return matrix, pairs


def test_compare_two_checkpoints(tmp_path, capsys):
    paths = []
    for i in range(2):
        path = tmp_path / f"net{i}.pt"
        torch.jit.save(torch.jit.script(tiny_net(i)), str(path))
        paths.append(path)
    out = tmp_path / "out"
    args = ["compare", "--model", str(paths[0]), "--model", str(paths[1]), "--data",
            "factor-mnist", "--n-images", "50", "--permutations", "9", "--quiet", "--out",
            str(out)]  # fmt: skip
    assert main(args) == 0
    matrix, pairs = read_outputs(out)
    assert list(matrix.index) == ["net0", "net1"] and len(pairs) == 1
    printed = capsys.readouterr().out
    assert "debiased CKA of 2 models on 50 images" in printed and "p = " in printed
    # the same images the command drew: factor-MNIST test, 50 of them chosen by --seed 0
    images, _ = load_factor_mnist("test")
    chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:50]
    images = images[chosen.sort().values]
    z = [Embedder(torch.jit.load(str(p)), progress=False).embed(images) for p in paths]
    expected = similarity(z[0], z[1], n_permutations=9, seed=0)
    assert pairs.loc[0, "value"] == pytest.approx(expected.value, abs=1e-6)
    assert pairs.loc[0, "p_value"] == pytest.approx(expected.p_value)
    assert matrix.loc["net0", "net1"] == matrix.loc["net1", "net0"] == pairs.loc[0, "value"]


def test_compare_embeddings_files_with_another_measure(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.normal(size=(80, 4))
    files = []
    for i in range(3):
        z = base @ rng.normal(size=(4, 5)) + (i + 0.5) * rng.normal(size=(80, 5))
        np.save(tmp_path / f"z{i}.npy", z)
        files.append(tmp_path / f"z{i}.npy")
    out = tmp_path / "out"
    args = ["compare", *[x for f in files for x in ("--embeddings", str(f))], "--name", "a",
            "--name", "b", "--name", "c", "--measure", "mutual_knn", "--k", "5", "--out",
            str(out)]  # fmt: skip
    assert main(args) == 0
    matrix, pairs = read_outputs(out)
    z = [np.load(f) for f in files]
    assert matrix.loc["a", "c"] == pytest.approx(similarity(z[0], z[2], "mutual_knn", k=5).value)
    assert set(pairs["measure"]) == {"mutual_knn"} and set(pairs["k"]) == {5}


def test_compare_a_bundled_zoo(tmp_path):
    # the MNIST zoo (16 models) keeps the test short; --zoo factor runs the same code on 71
    out = tmp_path / "zoo"
    assert main(["compare", "--zoo", "mnist", "--n-images", "40", "--quiet", "--out",
                 str(out)]) == 0  # fmt: skip
    matrix, pairs = read_outputs(out)
    _, manifest = load_zoo(zoo="mnist")
    assert list(matrix.index) == list(manifest.index)
    assert len(pairs) == len(manifest) * (len(manifest) - 1) // 2
    assert np.allclose(np.diag(matrix.to_numpy()), 1.0)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--embeddings", "{a}"], "at least two models or embeddings files"),
        (["--embeddings", "{a}", "--model", "zoo:random_s0"], "got --model and --embeddings"),
        ([], "give two or more --model"),
        (["--embeddings", "{a}", "--embeddings", "{short}"], "same images"),
        (["--embeddings", "{a}", "--embeddings", "{a}"], "same name"),
        (["--embeddings", "{a}", "--embeddings", "{b}", "--name", "x"], "one --name per"),
    ],
)
def test_compare_errors_are_one_line(args, message, tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.random.default_rng(0).normal(size=(30, 4)))
    np.save(tmp_path / "b.npy", np.random.default_rng(1).normal(size=(30, 4)))
    np.save(tmp_path / "short.npy", np.random.default_rng(1).normal(size=(20, 4)))
    files = {k: str(tmp_path / f"{k}.npy") for k in ("a", "b", "short")}
    argv = ["compare", *[a.format(**files) for a in args], "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("manifold compare: error: ")
    assert message in err[0]
