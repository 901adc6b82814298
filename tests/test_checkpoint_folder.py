"""A folder of checkpoints as ``--model``: each file is a candidate, named by its stem, and
``manifold select`` ranks the profiles of all of them."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from manifold.cli import main
from manifold.results import Profile
from manifold.zoo import select

TINY = ["--n-images", "24", "--n-views", "2", "--k", "4", "--families", "flip", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    rng = np.random.default_rng(0)
    (root / "images" / "x").mkdir(parents=True)
    for i in range(24):
        pixels = (rng.random((8, 8)) * 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(root / "images" / "x" / f"{i}.png")
    folder = root / "checkpoints"
    folder.mkdir()
    for epoch in (1, 3, 7):  # three "checkpoints" of one architecture
        torch.manual_seed(epoch)
        net = nn.Sequential(nn.Flatten(), nn.Linear(64, 6), nn.Tanh(), nn.Linear(6, 5))
        torch.jit.script(net).save(str(folder / f"e{epoch}.pt"))
    (folder / "notes.txt").write_text("not a model")  # other files are left alone
    return root


def test_a_folder_profiles_each_checkpoint_and_select_ranks_them(run, tmp_path, capsys):
    out = tmp_path / "profiles"
    args = ["profile", "--model", str(run / "checkpoints"), "--data", str(run / "images")]
    assert main([*args, *TINY, "--out", str(out)]) == 0
    prof = Profile.load(out / "profile.csv")
    assert prof.models == ["e1", "e3", "e7"]
    # each checkpoint gives the numbers it gives when named alone
    alone = tmp_path / "alone"
    assert main(["profile", "--model", str(run / "checkpoints" / "e3.pt"), "--data",
                 str(run / "images"), *TINY, "--out", str(alone)]) == 0  # fmt: skip
    one = Profile.load(alone / "profile.csv")
    pd.testing.assert_series_equal(prof.to_matrix().loc["e3"], one.to_matrix().loc["e3"])
    capsys.readouterr()

    chosen = tmp_path / "chosen"
    assert main(["select", str(out), "--by", "rankme", "--out", str(chosen)]) == 0
    table = pd.read_csv(chosen / "selection.csv", index_col="model")
    table.index = table.index.map(str)
    ref = select(prof, by="rankme")
    assert list(table.index) == list(ref.index) and sorted(table.index) == ["e1", "e3", "e7"]
    assert f"best by rankme: {ref.index[0]}" in capsys.readouterr().out


def test_a_folder_without_models_or_with_names_is_refused(run, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = ["--data", str(run / "images"), *TINY, "--out", str(tmp_path / "o")]
    assert main(["profile", "--model", str(empty), *args]) == 2
    assert "is a folder without model files" in capsys.readouterr().err
    folder = str(run / "checkpoints")
    assert main(["profile", "--model", folder, "--name", "a", *args]) == 2
    assert "--name cannot go with a folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_compare_takes_a_folder_too(run, tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "--model", str(run / "checkpoints"), "--data", str(run / "images")]
    assert main([*args, "--n-images", "24", "--quiet", "--out", str(out)]) == 0
    matrix = pd.read_csv(out / "similarity_matrix.csv", index_col=0)
    assert list(matrix.index) == list(matrix.columns) == ["e1", "e3", "e7"]
    np.testing.assert_allclose(np.diag(matrix.to_numpy()), 1.0)
