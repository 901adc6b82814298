"""Monitor: profile's numbers on a fixed probe batch, during training, with a collapse flag."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import manifold
from manifold import DegenerateWarning, Monitor
from manifold.augment import draw_views
from manifold.monitor import CONSTANT_RTOL, HISTORY_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


class Net(nn.Module):
    """A small CNN with batch norm and dropout (both behave differently in train mode).

    Centred input, odd activation and no biases keep its untrained embeddings away from one
    common direction: RankMe 4.7 to 5.8 on uniform noise over five seeds, where the same network
    with ReLU features and biases gives 1.2 to 1.4.
    """

    def __init__(self, dim: int = 12, channels: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 8, 3, bias=False), nn.BatchNorm2d(8), nn.Tanh(), nn.Dropout(0.3)
        )
        self.head = nn.Linear(8, dim, bias=False)

    def forward(self, x):
        return self.head(self.features(x - 0.5).mean((2, 3)))


def _net(seed: int = 0, **kwargs) -> Net:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Net(**kwargs)


@pytest.fixture(scope="module")
def images():
    return torch.rand(70, 3, 12, 12, generator=torch.Generator().manual_seed(1))


def _reference(profile: manifold.Profile, metrics: set[str]) -> pd.DataFrame:
    """Profile rows as history rows: the value (or the mean) and its se, per manifold/metric."""
    t = profile.table
    t = t[t["metric"].isin(metrics)]
    wide = t.pivot_table(index=["manifold", "metric"], columns="statistic", values="value")
    value = wide["value"].fillna(wide["mean"]) if "mean" in wide else wide["value"]
    se = wide["se"] if "se" in wide else np.nan
    return pd.DataFrame({"value": value, "se": se})


@pytest.mark.parametrize("keep_views", [True, False])
def test_history_equals_profile_on_the_probe_batch(images, keep_views):
    model = _net().train()
    options = dict(families=["crop", "flip"], n_views=3, k=6, seed=5)
    metrics = ("rankme", "effective_rank", "alpha", "spread_ratio", "lidar", "nnk_degree")
    monitor = Monitor(
        images, metrics=metrics, n_images=50, max_samples=40, n_bootstrap=3,
        keep_views=keep_views, **options,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing degenerate on this model
        rows = monitor(model, step=0)
    assert monitor.failures == []
    ref = manifold.profile(
        model, monitor.images, max_samples=40, n_bootstrap=3, progress=False, **options
    )
    expected = _reference(ref, {*metrics, "alpha_r2"})
    got = rows.set_index(["manifold", "metric"])[["value", "se"]]
    assert sorted(got.index) == sorted(expected.index)
    # every manifold of every metric that has one: the semantic RankMe and each family's
    assert ("semantic", "rankme") in got.index and ("flip", "rankme") in got.index
    assert ("crop", "lidar") in got.index and ("semantic", "nnk_degree") in got.index
    got = got.loc[expected.index]
    np.testing.assert_allclose(got["value"], expected["value"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["se"], expected["se"], rtol=0, atol=1e-12)
    assert got["se"].notna().all()


def test_probe_is_a_seeded_subsample_and_views_are_drawn_once(images, monkeypatch):
    import manifold.augment

    drawn = []
    real = manifold.augment.draw_views

    def counting(*args, **kwargs):
        drawn.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(manifold.augment, "draw_views", counting)
    monitor = Monitor(images, families=["crop", "flip"], n_views=3, k=5, n_images=30, seed=4)
    rows = np.sort(np.random.default_rng(4).choice(70, size=30, replace=False))
    np.testing.assert_array_equal(monitor.indices, rows)
    assert torch.equal(monitor.images, images[torch.from_numpy(rows)])
    assert drawn == ["crop", "flip"]

    class Recording(Net):
        def forward(self, x):
            seen.append(x.clone())
            return super().forward(x)

    model = Recording()
    seen: list[torch.Tensor] = []
    monitor(model, 0)
    first, seen = seen, []
    monitor(model, 1)
    assert drawn == ["crop", "flip"]  # no view drawn again
    assert len(first) == len(seen) > 1
    assert all(torch.equal(a, b) for a, b in zip(first, seen, strict=True))
    # the batches fed to the model are the probe images, then the seeded views of each family
    fed = torch.cat(first)
    assert torch.equal(fed[:30], monitor.images)
    crop = real(monitor.images, "crop", 3, seed=4).reshape(-1, 3, 12, 12)
    assert torch.equal(fed[30 : 30 + 90], crop)


def test_views_drawn_again_are_the_kept_ones(images):
    kept = Monitor(images, families="rotation", n_views=3, k=5, n_images=25, keep_views=True)
    again = Monitor(images, families="rotation", n_views=3, k=5, n_images=25, keep_views=False)
    model = _net()
    a, b = kept(model, 0), again(model, 0)
    pd.testing.assert_frame_equal(a, b)
    assert (
        torch.equal(kept._views["rotation"], draw_views(kept.images, "rotation", n_views=3, seed=0))
        and not again._views
    )


def test_eval_mode_and_no_grad_inside_and_train_modes_restored_after(images):
    states = []

    class Spy(Net):
        def forward(self, x):
            states.append((self.training, self.features[1].training, torch.is_grad_enabled()))
            return super().forward(x)

    model = Spy().train()
    model.features[3].eval()  # a mixed state: each submodule gets its own flag back
    before = [m.training for m in model.modules()]
    monitor = Monitor(images, k=5, n_images=20, families="flip", n_views=2)
    monitor(model, 0)
    assert states and set(states) == {(False, False, False)}
    assert [m.training for m in model.modules()] == before
    model.eval()
    monitor(model, 1)
    assert not any(m.training for m in model.modules())


def test_train_mode_restored_after_the_model_raises(images):
    class Failing(Net):
        calls = 0
        after = 0

        def forward(self, x):
            Failing.calls += 1
            if Failing.calls > Failing.after:
                raise RuntimeError("out of memory (simulated)")
            return super().forward(x)

    # the images' forward pass fails: the call raises
    model = Failing().train()
    monitor = Monitor(images, k=5, n_images=20, families="flip", n_views=2)
    with pytest.raises(RuntimeError, match="simulated"):
        monitor(model, 0)
    assert all(m.training for m in model.modules())
    assert monitor.steps == [] and monitor.history.empty
    # the views' forward pass fails (after the images' one): that family's failure, as
    # profile records it, and the semantic metrics of the step are kept
    Failing.calls, Failing.after = 0, 1
    with pytest.warns(UserWarning, match="flip/views not computed: out of memory"):
        rows = monitor(model, 0)
    assert all(m.training for m in model.modules())
    assert set(rows["manifold"]) == {"semantic"} and monitor.steps == [0]
    assert [(f["manifold"], f["metric"]) for f in monitor.failures] == [("flip", "views")]


def test_every_is_honoured_and_a_skipped_step_runs_nothing(images):
    calls = []

    class Counting(Net):
        def forward(self, x):
            calls.append(len(x))
            return super().forward(x)

    model = Counting()
    monitor = Monitor(images, every=3, k=5, n_images=20, metrics="rankme", families=None)
    results = {step: monitor(model, step) for step in range(8)}
    assert monitor.steps == [0, 3, 6]
    assert [s for s, r in results.items() if r is not None] == [0, 3, 6]
    assert sum(calls) == 3 * 20  # three calls, the 20 probe images each
    assert list(monitor.history["step"]) == [0, 3, 6]
    with pytest.raises(ValueError, match="not after the last recorded step 6"):
        monitor(model, 6)


def test_history_columns_and_what_a_call_returns(images):
    monitor = Monitor(images, k=5, n_images=30, families="flip", n_views=2)
    assert list(monitor.history.columns) == HISTORY_COLUMNS and monitor.history.empty
    model = _net()
    first = monitor(model, 10)
    second = monitor(model, 20)
    assert list(first.columns) == HISTORY_COLUMNS and set(first["step"]) == {10}
    pd.testing.assert_frame_equal(
        monitor.history, pd.concat([first, second], ignore_index=True), check_dtype=False
    )
    assert monitor.history["se"].isna().all()  # no bootstrap asked
    # the spread ratio's value is the mean of its per-image values
    ref = manifold.profile(model, monitor.images, "flip", n_views=2, k=5, progress=False)
    mean = ref.value("spread_ratio", manifold="flip", statistic="mean")
    got = first.query("manifold == 'flip' and metric == 'spread_ratio'")["value"].item()
    assert got == pytest.approx(mean, abs=1e-12)


class Constant(nn.Module):
    """Every image to the same vector (a bias after a zero map)."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.out = nn.Linear(3, dim)
        with torch.no_grad():
            self.out.weight.zero_()

    def forward(self, x):
        return self.out(x.mean((2, 3)))


class RankOne(nn.Module):
    """z_i = s_i v: every embedding on one line through the origin (RankMe close to 1)."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.linspace(1.0, 2.0, dim))

    def forward(self, x):
        return x.mean((1, 2, 3))[:, None] * self.v


def test_constant_embeddings_are_flagged_once(images):
    monitor = Monitor(images, k=5, n_images=20, families="flip", n_views=2)
    monitor(_net(), 0)
    assert monitor.first_collapse is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monitor(Constant(), 5)
    flags = [str(w.message) for w in caught if w.category is DegenerateWarning]
    assert len(flags) == 1 and flags[0].startswith(
        "the representation collapsed at step 5: the embeddings are constant"
    )
    assert monitor.first_collapse == 5 and "constant" in monitor.collapse_reason
    # metrics undefined on a constant representation are failures, each named in a warning
    failed = {(f["manifold"], f["metric"]) for f in monitor.failures}
    assert ("semantic", "alpha") in failed and ("flip", "spread_ratio") in failed
    named = [str(w.message) for w in caught if w.category is UserWarning]
    assert len(named) == len(failed) and all("not computed" in m for m in named)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither the flag nor the failures warn again
        monitor(Constant(), 6)
    assert monitor.first_collapse == 5
    assert {f["step"] for f in monitor.failures} == {5, 6}


def test_low_rank_embeddings_are_flagged_by_rankme(images):
    x = RankOne()
    monitor = Monitor(images, k=5, n_images=20, metrics="alpha", families=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monitor(x, 0)
    flags = [str(w.message) for w in caught if w.category is DegenerateWarning]
    assert flags == ["the representation collapsed at step 0: RankMe 1 <= collapse_rank = 2"]
    # alpha is undefined here: one positive eigenvalue; a failure, named in a UserWarning
    assert [f["metric"] for f in monitor.failures] == ["alpha"]
    assert any("semantic/alpha not computed" in str(w.message) for w in caught)
    # the RankMe of a rank-one matrix is 1 up to its epsilon: p = (1 + eps, eps, ..., eps)
    z = monitor.images.double().mean((1, 2, 3))[:, None] * x.v.detach().double()
    eps, dim = 1e-7, z.shape[1]
    closed_form = np.exp(-((1 + eps) * np.log(1 + eps) + (dim - 1) * eps * np.log(eps)))
    assert manifold.rankme(z) == pytest.approx(closed_form, abs=1e-9)
    assert closed_form < 1.00002
    assert monitor.first_collapse == 0 and "RankMe" in monitor.collapse_reason
    # not constant: the embeddings vary along the line far beyond the constant tolerance
    assert float(z.amax(0).sub(z.amin(0)).max()) > 100 * CONSTANT_RTOL * float(z.abs().max())


def test_rank_rule_needs_more_dimensions_than_the_threshold(images):
    two = _net(dim=2)
    monitor = Monitor(images, k=5, n_images=30, metrics="rankme", families=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateWarning)
        monitor(two, 0)
    assert monitor.history["value"].item() <= 2.0  # RankMe of 2-d embeddings, not collapse
    assert monitor.first_collapse is None


def _load_example():
    """Import examples/monitor_training.py (it puts examples/zoo on sys.path: undone here)."""
    path = list(sys.path)
    spec = importlib.util.spec_from_file_location(
        "monitor_training", ROOT / "examples" / "monitor_training.py"
    )
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path
    return module


@pytest.fixture(scope="module")
def training_runs():
    """VICReg with and without its variance term, 16 small steps each, RankMe every 2 steps.

    On 16 px renderings of factor-MNIST (the example's 32 px run costs four times as much):
    the encoder pools globally, and starts from a RankMe of 11 at this size too.
    """
    from manifold.datasets import load_factor_mnist

    example = _load_example()
    probe, _ = load_factor_mnist("test", n=100, size=16)
    out = {}
    for run, weights in example.RUNS.items():
        monitor = Monitor(probe, every=2, metrics="rankme", families=None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = example.train(weights, 16, monitor, batch=32, n_train=128, size=16)
        flags = [w for w in caught if issubclass(w.category, DegenerateWarning)]
        out[run] = (monitor, result, flags)
    return out


def test_vicreg_without_variance_collapses_and_the_flag_fires(training_runs):
    monitor, result, flags = training_runs["no_variance"]
    rankme = monitor.history.set_index("step")["value"]
    assert monitor.steps == list(range(0, 17, 2))
    assert monitor.first_collapse is not None and len(flags) == 1
    assert f"step {monitor.first_collapse}" in str(flags[0].message)
    # it fires at the first measurement at or below the threshold, not before
    assert rankme[monitor.first_collapse] <= 2.0
    assert (rankme[rankme.index < monitor.first_collapse] > 2.0).all()
    assert rankme[0] > 5  # it started healthy
    # meanwhile the loss looked like fast convergence: down by more than 95 % at the flag
    loss = result["loss"]  # loss[s - 1]: the loss of step s
    assert loss[monitor.first_collapse - 1] < 0.05 * loss[0]


def test_vicreg_with_its_variance_term_does_not_collapse(training_runs):
    monitor, result, flags = training_runs["vicreg"]
    assert monitor.first_collapse is None and flags == []
    assert (monitor.history["value"] > 2.0).all() and len(monitor.steps) == 9
    assert len(result["loss"]) == 16


def test_to_csv_appends_only_new_rows_atomically(images, tmp_path):
    path = tmp_path / "sub" / "history.csv"
    monitor = Monitor(images, k=5, n_images=20, families="flip", n_views=2)
    model = _net()
    monitor(model, 0)
    monitor.to_csv(path)
    first = pd.read_csv(path)
    monitor(model, 1)
    monitor(model, 2)
    monitor.to_csv(path)
    monitor.to_csv(path)  # nothing new: unchanged
    back = pd.read_csv(path)
    pd.testing.assert_frame_equal(back, monitor.history, check_dtype=False)
    assert len(back) == 3 * len(first)
    assert sorted(p.name for p in path.parent.iterdir()) == ["history.csv"]  # no temp file left
    # a new monitor (a restarted run) appends to the same file
    later = Monitor(images, k=5, n_images=20, families="flip", n_views=2)
    later(model, 3)
    later.to_csv(path)
    assert list(pd.read_csv(path)["step"].unique()) == [0, 1, 2, 3]
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv has columns 'a,b', expected"):
        later.to_csv(other)
    assert other.read_text() == "a,b\n1,2\n"


def test_writer_gets_every_recorded_value(images):
    class FakeWriter:
        def __init__(self):
            self.scalars = []

        def add_scalar(self, tag, value, global_step):
            self.scalars.append((tag, value, global_step))

    writer = FakeWriter()
    monitor = Monitor(images, every=2, k=5, n_images=20, families="flip", n_views=2, writer=writer)
    model = _net()
    for step in range(5):
        monitor(model, step)
    expected = [
        (f"manifold/{r.manifold}/{r.metric}", r.value, r.step) for r in monitor.history.itertuples()
    ]
    assert writer.scalars == expected and {s for _, _, s in expected} == {0, 2, 4}


def test_plot_has_one_panel_per_metric(images):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monitor = Monitor(images, k=5, n_images=20, families="flip", n_views=2, n_bootstrap=2)
    with pytest.raises(ValueError, match="nothing recorded yet"):
        monitor.plot()
    for step, model in enumerate([_net(0), _net(1), Constant()]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            monitor(model, step)
    fig = monitor.plot()
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == list(dict.fromkeys(monitor.history["metric"]))
    rankme = fig.axes[titles.index("rankme")]
    assert {line.get_label() for line in rankme.get_lines()} >= {"semantic", "flip"}
    # the collapse step is marked
    assert any(list(line.get_xdata()) == [2, 2] for line in rankme.get_lines())
    one = monitor.plot("alpha")
    assert [ax.get_title() for ax in one.axes if ax.get_visible()] == ["alpha"]
    with pytest.raises(ValueError, match=r"metrics \['lidar'\] are not in the history"):
        monitor.plot(["lidar"])
    plt.close("all")


def test_a_dataloader_gives_its_first_images(images):
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(images, torch.arange(70)), batch_size=16)
    monitor = Monitor(loader, n_images=40, k=5, families="flip", n_views=2)
    assert torch.equal(monitor.images, images[:40])
    np.testing.assert_array_equal(monitor.indices, np.arange(40))
    plain = DataLoader(images, batch_size=32)
    monitor = Monitor(plain, n_images=None, k=5, metrics="rankme", families=None)
    assert torch.equal(monitor.images, images)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"every": 0}, ValueError, "every must be >= 1, got 0"),
        ({"every": 1.5}, TypeError, "every must be an integer"),
        ({"metrics": "rank_me"}, ValueError, r"unknown metrics \['rank_me'\]; expected names"),
        ({"metrics": []}, ValueError, "metrics is empty"),
        ({"metrics": 3}, TypeError, "metrics must be a name or an iterable"),
        ({"families": None}, ValueError, r"metrics \['spread_ratio'\] are measured on aug"),
        ({"families": "blurry"}, ValueError, "unknown augmentation family 'blurry'"),
        ({"n_views": 1}, ValueError, "n_views must be >= 2, got 1"),
        ({"k": 0}, ValueError, "k must be >= 1, got 0"),
        ({"n_images": 5, "k": 10}, ValueError, "n_images must be >= 11, got 5"),
        ({"n_bootstrap": 1}, ValueError, "n_bootstrap must be 0"),
        ({"collapse_rank": -1.0}, ValueError, "collapse_rank must be > 0"),
        ({"writer": object()}, TypeError, "writer must have a method add_scalar"),
        ({"keep_views": "yes"}, TypeError, "keep_views must be True, False or None"),
        ({"seed": -1}, ValueError, "seed must be non-negative"),
        ({"layer": 3}, TypeError, "layer must be a submodule name"),
        ({"transform": "norm"}, TypeError, "transform must be callable"),
    ],
)
def test_bad_parameters_raise_clear_errors(images, kwargs, error, match):
    with pytest.raises(error, match=match):
        Monitor(images, **kwargs)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (np.zeros((10, 3, 8)), ValueError, r"expected images of shape \(N, C, H, W\)"),
        (np.zeros((10, 8, 8, 3)), ValueError, "look channels-last"),
        (np.full((20, 3, 8, 8), 2.0), ValueError, r"values in \[0, 1\]"),
        (np.zeros((20, 3, 8, 8), dtype=np.uint8), TypeError, "divide by 255"),
        (np.zeros((20, 4, 8, 8)), ValueError, "must have 1 .grayscale. or 3 .RGB. channels"),
        (np.zeros((8, 3, 8, 8)), ValueError, "needs more than k = 10 images, got 8"),
    ],
)
def test_bad_images_raise_clear_errors(bad, error, match):
    with pytest.raises(error, match=match):
        Monitor(bad)


def test_bad_calls_raise_clear_errors(images):
    monitor = Monitor(images, k=5, n_images=20, families="flip", n_views=2)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        monitor(lambda x: x, 0)
    with pytest.raises(TypeError, match="step must be an integer"):
        monitor(_net(), 1.0)
    assert monitor.steps == []


def test_import_manifold_does_not_import_lightning():
    code = (
        "import sys, manifold, manifold.monitor; manifold.Monitor; "
        "print([m for m in ('lightning', 'pytorch_lightning') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def _lightning_or_skip():
    pytest.importorskip("pytorch_lightning", reason="PyTorch Lightning is not installed")
    from manifold.integrations.lightning import lightning_module

    return lightning_module()


def _lightning_parts(pl):
    class RecordingLogger(pl.loggers.Logger):
        def __init__(self):
            super().__init__()
            self.logged = []

        @property
        def name(self):
            return "recording"

        @property
        def version(self):
            return 0

        def log_hyperparams(self, params, *args, **kwargs):
            pass

        def log_metrics(self, metrics, step=None):
            if any(key.startswith("manifold/") for key in metrics):
                self.logged.append((step, dict(metrics)))

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.encoder = _net()

        def forward(self, x):
            return self.encoder(x)

        def training_step(self, batch, batch_idx):
            (x,) = batch
            return self(x).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return RecordingLogger, Module


def _fit(pl, callback, logger, module, images, tmp_path, **limits):
    from torch.utils.data import DataLoader, TensorDataset

    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=logger, callbacks=[callback],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path, **limits,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice on workers and log intervals
        trainer.fit(module, DataLoader(TensorDataset(images), batch_size=16))
    return trainer


def test_lightning_callback_in_a_two_step_fit(images, tmp_path):
    pl = _lightning_or_skip()
    from manifold.integrations.lightning import MonitorCallback

    RecordingLogger, Module = _lightning_parts(pl)
    monitor = Monitor(images, k=5, n_images=30, families="flip", n_views=2)
    logger, module = RecordingLogger(), Module()
    _fit(pl, MonitorCallback(monitor, on="batch"), logger, module, images, tmp_path, max_steps=2)
    assert monitor.steps == [1, 2]
    history = monitor.history
    assert [step for step, _ in logger.logged] == [1, 2]
    for step, metrics in logger.logged:
        rows = history[history["step"] == step]
        expected = {f"manifold/{r.manifold}/{r.metric}": r.value for r in rows.itertuples()}
        assert metrics == expected
    # step 2 measured the model as training left it: profile of the fitted model agrees
    ref = manifold.profile(module, monitor.images, "flip", n_views=2, k=5, progress=False)
    last = history[history["step"] == 2].set_index(["manifold", "metric"])["value"]
    expected = _reference(ref, set(last.index.get_level_values(1)))["value"]
    np.testing.assert_allclose(last.loc[expected.index], expected, rtol=0, atol=1e-12)
    assert module.training  # Lightning's train mode, untouched by the measurement


def test_lightning_callback_every_epoch_on_a_submodule(images, tmp_path):
    pl = _lightning_or_skip()
    from manifold.integrations.lightning import MonitorCallback

    RecordingLogger, Module = _lightning_parts(pl)
    monitor = Monitor(images, k=5, n_images=30, metrics="rankme", families=None)
    logger = RecordingLogger()
    callback = MonitorCallback(monitor, on="epoch", module="encoder")
    _fit(pl, callback, logger, Module(), images, tmp_path, max_epochs=2, limit_train_batches=2)
    assert monitor.steps == [0, 1]  # the epochs
    # logged at the trainer's global step: 2 optimizer steps per epoch
    assert [step for step, _ in logger.logged] == [2, 4]
    assert list(logger.logged[0][1]) == ["manifold/semantic/rankme"]


def test_lightning_callback_runs_on_rank_zero_only_and_checks_its_arguments(images):
    _lightning_or_skip()
    from types import SimpleNamespace

    from manifold.integrations.lightning import MonitorCallback

    monitor = Monitor(images, k=5, n_images=20, metrics="rankme", families=None)
    callback = MonitorCallback(monitor, on="batch")
    other_rank = SimpleNamespace(is_global_zero=False, global_step=3, loggers=[])
    callback.on_train_batch_end(other_rank, _net(), None, None, 0)
    assert monitor.steps == []
    rank_zero = SimpleNamespace(is_global_zero=True, global_step=3, loggers=[])
    callback.on_train_batch_end(rank_zero, _net(), None, None, 0)
    callback.on_train_batch_end(rank_zero, _net(), None, None, 1)  # same step: accumulation
    assert monitor.steps == [3]
    with pytest.raises(ValueError, match="on must be one of 'epoch', 'batch'"):
        MonitorCallback(monitor, on="step")
    with pytest.raises(TypeError, match="monitor must be a manifold.Monitor"):
        MonitorCallback("monitor")
    with pytest.raises(TypeError, match="module must be None, a submodule name or a callable"):
        MonitorCallback(monitor, module=3)
    missing = MonitorCallback(monitor, on="batch", module="encoder")
    with pytest.raises(ValueError, match="has no submodule 'encoder'"):
        missing.on_train_batch_end(SimpleNamespace(**{**vars(rank_zero), "global_step": 4}),
                                   _net(), None, None, 0)  # fmt: skip


def test_lightning_callback_without_lightning_names_the_extra(monkeypatch):
    import manifold.integrations.lightning as integration

    monkeypatch.setattr(integration, "_LIGHTNING", None)
    with pytest.raises(ImportError, match=r"pip install manifold-geometry\[lightning\]"):
        integration.lightning_module()
