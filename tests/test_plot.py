import io

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

from manifold import plot  # noqa: E402
from manifold.profiling import Profile  # noqa: E402
from manifold.spectral import spectrum  # noqa: E402
from manifold.zoo import TransferPredictor, cluster_models  # noqa: E402


def render(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    matplotlib.pyplot.close(fig)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def grouped():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 6)) * 6
    rows = {f"g{g}_{j}": centres[g] + 0.2 * rng.normal(size=6) for g in range(3) for j in range(4)}
    frame = pd.DataFrame(rows).T
    frame.columns = ["semantic/rankme", "semantic/alpha", "crop/a", "crop/b", "flip/c", "flip/d"]
    groups = {name: name.split("_")[0] for name in frame.index}
    return frame, groups


@pytest.fixture(scope="module")
def evaluation(grouped):
    frame, _ = grouped
    rng = np.random.default_rng(1)
    scores = pd.DataFrame(
        {"t1": frame["crop/a"] + rng.normal(size=len(frame)), "t2": rng.normal(size=len(frame))},
        index=frame.index,
    )
    return frame, scores, TransferPredictor().evaluate(frame, scores, n_permutations=9)


def test_dendrogram_colours_leaves_by_group(grouped):
    frame, groups = grouped
    res = cluster_models(frame, groups=groups)
    fig = plot.plot_dendrogram(res)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert sorted(labels) == sorted(frame.index)
    # one colour per group on the leaf labels
    colours = {t.get_text().split("_")[0]: t.get_color() for t in ax.get_xticklabels()}
    assert len(set(map(str, colours.values()))) == 3
    assert "distance" in ax.get_ylabel()
    assert any(line.get_linestyle() == "--" for line in ax.get_lines())  # the cut
    render(fig)
    render(res.plot_dendrogram())


def test_model_map_has_one_scatter_per_group(grouped):
    frame, groups = grouped
    res = cluster_models(frame, groups=groups)
    fig = res.plot_map()
    ax = fig.axes[0]
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 3
    assert sum(len(c.get_offsets()) for c in scatters) == len(frame)
    assert ax.get_xlabel().startswith("MDS 1") and ax.get_ylabel().startswith("MDS 2")
    render(fig)
    no_groups = plot.plot_model_map(cluster_models(frame))
    assert len([c for c in no_groups.axes[0].collections if isinstance(c, PathCollection)]) == 1
    render(no_groups)


def test_predictions_panel_per_task_with_baseline(evaluation):
    _, scores, ev = evaluation
    fig = plot.plot_predictions(ev, baseline="directed_alpha")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2
    for ax, task in zip(visible, ["t1", "t2"], strict=True):
        scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert len(scatters) == 2 and all(len(c.get_offsets()) == len(scores) for c in scatters)
        assert len(ax.get_lines()) == 1  # the diagonal
        assert ax.get_title().startswith(task) and ax.get_xlabel() == "actual score"
    render(fig)
    with pytest.raises(ValueError, match="baseline"):
        plot.plot_predictions(ev, baseline="nope")


def test_label_free_baseline_is_drawn_on_its_own_axis(evaluation):
    _, scores, ev = evaluation
    fig = plot.plot_predictions(ev, baseline="alpha")
    main = [ax for ax in fig.axes if ax.get_visible() and ax.get_xlabel() == "actual score"]
    twins = [ax for ax in fig.axes if ax.get_ylabel().startswith("alpha score")]
    assert len(main) == 2 and len(twins) == 2
    for ax, twin in zip(main, twins, strict=True):
        assert len([c for c in ax.collections if isinstance(c, PathCollection)]) == 1
        (points,) = [c for c in twin.collections if isinstance(c, PathCollection)]
        # the label-free score: alpha closest to 1 is best
        task = ax.get_title().split(" ")[0]
        rows = ev.predictions[ev.predictions["task"] == task]
        np.testing.assert_allclose(points.get_offsets()[:, 1], rows["alpha"].to_numpy())
    render(fig)


def test_correlations_heat_map(evaluation):
    frame, scores, _ = evaluation
    fig = plot.plot_correlations(frame, scores)
    ax = fig.axes[0]
    images = [a for a in ax.get_children() if isinstance(a, AxesImage)]
    assert len(images) == 1
    data = images[0].get_array()
    assert data.shape == (frame.shape[1], 2)
    assert np.nanmax(np.abs(data)) <= 1
    assert [t.get_text() for t in ax.get_xticklabels()] == ["t1", "t2"]
    render(fig)


def test_existing_invariance_and_spectrum_plots_still_render():
    records = [
        (m, fam, "spread_ratio", "mean", float(i + j))
        for i, m in enumerate(["a", "b"])
        for j, fam in enumerate(["crop", "flip", "blur"])
    ]
    prof = Profile(pd.DataFrame(records, columns=["model", "manifold", "metric", "statistic",
                                                  "value"]))  # fmt: skip
    fig = plot.plot_invariance(prof)
    images = [a for a in fig.axes[0].get_children() if isinstance(a, AxesImage)]
    assert len(images) == 1 and images[0].get_array().shape == (2, 3)
    render(fig)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 40)) * np.arange(1, 41) ** -0.8
    fig = plot.plot_spectrum({"model": spectrum(z)})
    assert len(fig.axes[0].get_lines()) == 2  # spectrum + its fit
    render(fig)


def test_many_spectra_are_coloured_by_alpha_instead_of_a_legend():
    rng = np.random.default_rng(3)
    spectra = {
        f"m{i}": spectrum(rng.normal(size=(400, 120)) * np.arange(1, 121) ** (-0.5 - 0.1 * i))
        for i in range(plot.SPECTRUM_LEGEND_MAX + 4)
    }
    fig = plot.plot_spectrum(spectra)
    main = fig.axes[0]
    assert main.get_legend() is None and len(fig.axes) == 2  # the plot and its colour bar
    assert len(main.get_lines()) == len(spectra)  # no fit lines
    alphas = {n: s.alpha().alpha for n, s in spectra.items()}
    steep, flat = max(alphas, key=alphas.get), min(alphas, key=alphas.get)
    assert f"steepest {steep}" in main.get_title() and f"flattest {flat}" in main.get_title()
    render(fig)
    few = plot.plot_spectrum(dict(list(spectra.items())[:3]))
    assert len(few.axes) == 1 and len(few.axes[0].get_legend().get_texts()) == 3
    render(few)
