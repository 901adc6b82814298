"""manifold.io.load_embeddings: every format ``manifold profile --embeddings`` reads, and what
it refuses."""

import numpy as np
import pytest
import torch

from manifold.io import load_embeddings


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 3)), rng.normal(size=(6, 4, 3))


def test_each_format_round_trips(tmp_path, arrays):
    z, v = arrays
    np.save(tmp_path / "a.npy", z)
    got, views = load_embeddings(tmp_path / "a.npy")
    np.testing.assert_array_equal(got, z)
    assert views == {}

    np.savez(tmp_path / "b.npz", z=z, views_crop=v, other=np.zeros(2))
    got, views = load_embeddings(str(tmp_path / "b.npz"))
    np.testing.assert_array_equal(got, z)
    assert list(views) == ["crop"]
    np.testing.assert_array_equal(views["crop"], v)

    np.savez(tmp_path / "c.npz", semantic=z)  # the other accepted name of z
    np.testing.assert_array_equal(load_embeddings(tmp_path / "c.npz")[0], z)

    torch.save(
        {"z": torch.from_numpy(z), "views": {"flip": torch.from_numpy(v)}}, tmp_path / "d.pt"
    )
    got, views = load_embeddings(tmp_path / "d.pt")
    assert torch.equal(got, torch.from_numpy(z)) and torch.equal(views["flip"], torch.from_numpy(v))

    torch.save(torch.from_numpy(z), tmp_path / "e.pt")
    assert torch.equal(load_embeddings(tmp_path / "e.pt")[0], torch.from_numpy(z))


def test_what_it_refuses(tmp_path, arrays):
    z, v = arrays
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_embeddings(tmp_path / "missing.npy")
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"\.npy, \.npz or \.pt, got x\.csv"):
        load_embeddings(tmp_path / "x.csv")
    np.savez(tmp_path / "noz.npz", views_crop=v)
    with pytest.raises(ValueError, match="no 'z'"):
        load_embeddings(tmp_path / "noz.npz")
    np.save(tmp_path / "three.npy", v)
    with pytest.raises(ValueError, match=r"z has shape \(6, 4, 3\); expected \(N, D\)"):
        load_embeddings(tmp_path / "three.npy")
    np.savez(tmp_path / "bad.npz", z=z, views_crop=v[:5])
    with pytest.raises(
        ValueError, match=r"views for 'crop' have shape \(5, 4, 3\) but z is \(6, 3\)"
    ):
        load_embeddings(tmp_path / "bad.npz")
    torch.save({"embeddings": torch.zeros(2, 2)}, tmp_path / "nokey.pt")
    with pytest.raises(ValueError, match="a tensor or a dict with 'z'"):
        load_embeddings(tmp_path / "nokey.pt")
    (tmp_path / "corrupt.npy").write_bytes(b"not an array")
    with pytest.raises(ValueError, match="cannot read embeddings from .*corrupt.npy"):
        load_embeddings(tmp_path / "corrupt.npy")
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x02not a pickle")
    with pytest.raises(ValueError, match="cannot read embeddings from .*corrupt.pt"):
        load_embeddings(tmp_path / "corrupt.pt")
