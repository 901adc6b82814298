import numpy as np
import pytest
import torch

from manifold._backend import numpy_generator, require, resolve_device, torch_generator
from manifold._checks import as_tensor, check_choice, check_int, check_positive
from manifold._summary import PointMetric, summarize


def test_shape_message_names_expected_and_received_dims():
    with pytest.raises(ValueError, match=r"expected z of shape \(N, D\), got \(3, 4, 5\)"):
        as_tensor(np.zeros((3, 4, 5)), "z")
    with pytest.raises(ValueError, match=r"expected z of shape \(N, D\), got \(4,\)"):
        as_tensor(np.zeros(4), "z")


def test_nonfinite_message_counts_values_and_gives_first_row():
    x = np.ones((20, 3))
    x[7, 1] = np.nan
    x[9, 0] = np.nan
    x[12, 2] = np.inf
    with pytest.raises(ValueError) as info:
        as_tensor(x, "z")
    msg = str(info.value)
    assert "2 NaN values" in msg and "1 infinite value" in msg and "row 7" in msg


def test_min_sizes_and_empty():
    with pytest.raises(ValueError, match="N >= 2"):
        as_tensor(np.ones((1, 3)), "z", min_sizes={"N": 2})
    with pytest.raises(ValueError, match="empty"):
        as_tensor(np.ones((0, 3)), "z")


@pytest.mark.parametrize(
    "bad, err",
    [
        (np.ones((3, 2), dtype=bool), TypeError),
        (np.ones((3, 2), dtype=complex), TypeError),
        (np.array([["a", "b"]]), TypeError),
        (torch.ones(3, 2, dtype=torch.complex64), TypeError),
        (torch.empty(3, 2, device="meta"), TypeError),
    ],
)
def test_rejected_dtypes(bad, err):
    with pytest.raises(err):
        as_tensor(bad, "z")


def test_dtype_rules():
    half = torch.ones(3, 2, dtype=torch.float16)
    assert as_tensor(half, "z")[0].dtype == torch.float32
    assert as_tensor(half.to(torch.bfloat16), "z")[0].dtype == torch.float32
    assert as_tensor(np.ones((3, 2), dtype=np.float16), "z")[0].dtype == torch.float32
    assert as_tensor(np.ones((3, 2), dtype=np.int64), "z")[0].dtype == torch.float64
    assert as_tensor(np.ones((3, 2), dtype=np.float32), "z")[0].dtype == torch.float32
    assert as_tensor(np.ones((3, 2)), "z", dtype=torch.float64)[0].dtype == torch.float64


def test_numpy_roundtrip_and_readonly_and_transposed():
    a = np.arange(12.0).reshape(3, 4)
    a.setflags(write=False)
    t, info = as_tensor(a.T, "z")
    assert t.shape == (4, 3) and np.array_equal(t.numpy(), a.T)
    assert info.kind == "numpy" and info.dtype == np.float64


def test_torch_requires_grad_is_detached():
    x = torch.randn(5, 3, requires_grad=True)
    t, info = as_tensor(x, "z")
    assert not t.requires_grad and t.grad_fn is None
    assert info.kind == "torch" and info.dtype == torch.float32


def test_memmap_input(tmp_path):
    mm = np.lib.format.open_memmap(tmp_path / "z.npy", mode="w+", dtype=np.float32, shape=(6, 2))
    mm[:] = 1.5
    mm.flush()
    ro = np.load(tmp_path / "z.npy", mmap_mode="r")
    t, _ = as_tensor(ro, "z")
    assert float(t.sum()) == 18.0


def test_scalar_checks():
    assert check_int(3, "k", minimum=1) == 3
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        check_int(0, "k", minimum=1)
    with pytest.raises(TypeError):
        check_int(True, "k")
    with pytest.raises(TypeError):
        check_int(2.5, "k")
    assert check_positive(0.5, "sigma") == 0.5
    with pytest.raises(ValueError):
        check_positive(0.0, "sigma")
    with pytest.raises(TypeError):
        check_positive(float("nan"), "sigma")
    with pytest.raises(ValueError, match="'euclidean', 'cosine'"):
        check_choice("l1", "metric", ("euclidean", "cosine"))


def test_seed_helpers_leave_global_state_alone():
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    a = torch.rand(3, generator=torch_generator(5))
    b = torch.rand(3, generator=torch_generator(5))
    assert torch.equal(a, b)
    assert numpy_generator(5).random() == numpy_generator(5).random()
    g = numpy_generator(np.random.default_rng(1))
    assert isinstance(g, np.random.Generator)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)
    with pytest.raises(TypeError):
        torch_generator("seed")
    with pytest.raises(ValueError):
        torch_generator(-1)


def test_resolve_device():
    assert resolve_device(None).type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_require_names_the_extra():
    with pytest.raises(ImportError, match=r"pip install manifold-geometry\[data\]"):
        require("a_package_that_does_not_exist", extra="data")


def test_summary_statistics_match_numpy():
    rng = np.random.default_rng(0)
    v = rng.normal(size=101)
    s = summarize(v)
    assert s.mean == pytest.approx(v.mean())
    assert s.median == pytest.approx(np.median(v))
    assert s.std == pytest.approx(v.std(ddof=1))
    assert s.q05 == pytest.approx(np.quantile(v, 0.05))
    assert s.count == 101
    assert list(s.to_dict()) == ["mean", "median", "std", "q05", "q25", "q75", "q95"]
    pm = PointMetric("x", v)
    assert float(pm) == pytest.approx(v.mean())
    with pytest.raises(ValueError, match="non-finite"):
        summarize([1.0, np.nan])
    with pytest.raises(ValueError, match="empty"):
        summarize([])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_all_finite_agrees_with_the_elementwise_test(dtype):
    from manifold._checks import all_finite

    rng = np.random.default_rng(0)
    for trial in range(40):
        x = torch.from_numpy(rng.standard_normal((50, 7))).to(dtype)
        if trial % 4:
            flat = x.view(-1)
            for pos in rng.choice(flat.numel(), size=1 + trial % 3, replace=False):
                flat[pos] = rng.choice([np.nan, np.inf, -np.inf])
        assert all_finite(x) == bool(torch.isfinite(x).all())
    # finite values whose sum overflows: the fast path must not call them non-finite
    big = torch.full((10,), torch.finfo(dtype).max / 2, dtype=dtype)
    assert not torch.isfinite(big.sum()) and all_finite(big)
    # +inf and -inf together sum to NaN, still detected
    assert not all_finite(torch.tensor([np.inf, -np.inf, 1.0], dtype=dtype))
    assert all_finite(torch.empty(0, 3, dtype=dtype))
