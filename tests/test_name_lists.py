"""Every parameter that takes a list of names reads a bare string as one name.

``load_zoo("sweep")`` used to iterate the string and answer "unknown zoo models ['s', 'w',
'e', ...]" (as ``families="crop"`` once did). Each case below calls one such parameter with a
bare string and with the one-element list of it: both must mean the same, or the string must
be refused with an error that names the parameter. Each failed before the fix.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from manifold.profiling import Profile, profile


@pytest.fixture(scope="module")
def sweep() -> Profile:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 6)
    )
    images = torch.rand(24, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    return profile(model, images, families=None, k=5, layers=["1", "3"], name="net", progress=False)


def test_load_zoo_names():
    from manifold.datasets import load_zoo

    with pytest.raises(ValueError, match=r"unknown zoo models \['sweep'\]"):
        load_zoo("sweep")
    models, manifest = load_zoo("simclr_color_s0")
    assert list(models) == ["simclr_color_s0"] and list(manifest.index) == ["simclr_color_s0"]


def test_mismatched_settings_keys():
    p = Profile(
        pd.DataFrame(columns=["model", "manifold", "metric", "statistic", "value"]),
        {"a": {"k": 10, "seed": 0}, "b": {"k": 5, "seed": 1}},
    )
    assert (
        p.mismatched_settings("seed")
        == p.mismatched_settings(["seed"])
        == {"seed": {"0": ["a"], "1": ["b"]}}
    )


def test_engine_metrics_for_options_and_needs():
    from manifold.engine import metrics_for

    def names(**kwargs):
        return [m.name for m in metrics_for("semantic", **kwargs)]

    assert names(options="curvature") == names(options=["curvature"])
    assert "ollivier_ricci" in names(options="curvature")
    assert names(needs="spectrum") == names(needs=["spectrum"]) != []


def test_plot_layers_models(sweep):
    import matplotlib.pyplot as plt

    from manifold.plot import plot_layers

    one = plot_layers(sweep, "rankme", models="net")
    listed = plot_layers(sweep, "rankme", models=["net"])
    assert len(one.axes[0].get_lines()) == len(listed.axes[0].get_lines()) > 0
    plt.close("all")


def test_plot_predictions_tasks():
    import matplotlib.pyplot as plt

    from manifold.plot import plot_predictions
    from manifold.zoo import TransferPredictor

    rng = np.random.default_rng(0)
    matrix = pd.DataFrame(
        rng.standard_normal((8, 3)),
        index=[f"m{i}" for i in range(8)],
        columns=["semantic/rankme", "semantic/alpha", "x"],
    )
    scores = pd.DataFrame(rng.standard_normal((8, 2)), index=matrix.index, columns=["t1", "t2"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluation = TransferPredictor().evaluate(matrix, scores, n_permutations=0)
    one = plot_predictions(evaluation, tasks="t2")

    def panels(fig):  # one panel per task; the label-free baseline has a twin (right) axis
        return [ax.get_title() for ax in fig.axes if ax.get_title()]

    assert panels(one) == panels(plot_predictions(evaluation, tasks=["t2"]))
    assert len(panels(one)) == 1 and panels(one)[0].startswith("t2")
    assert len(plot_predictions(evaluation, baseline="directed_rankme", tasks="t2").axes) == 1
    plt.close("all")


def test_write_report_notes_and_files(tmp_path):
    from manifold.report import write_report

    prof = profile(np.random.default_rng(0).standard_normal((30, 4)), k=5, progress=False)
    page = write_report(prof, tmp_path / "r.html", notes="one note", files="profile.csv")
    text = page.read_text()
    assert '<p class="note">one note</p>' in text
    assert '<a href="profile.csv">profile.csv</a>' in text


def test_replace_outputs_names(tmp_path):
    from manifold.io import replace_outputs

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.html").write_text("old")
    (tmp_path / "stage").mkdir()
    (tmp_path / "stage" / "new.csv").write_text("new")
    assert replace_outputs(tmp_path / "stage", tmp_path / "out", "report.html") == ["report.html"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["new.csv"]


@pytest.mark.parametrize("value", [3, [1, 2], ["ok", 5]])
def test_non_names_are_refused_with_the_parameter_named(value):
    from manifold.engine import metrics_for

    with pytest.raises(TypeError, match="options"):
        metrics_for("semantic", options=value)


# -- parameters that already read a bare string as one name (kept so by these tests) --------
def _matrix_and_scores():
    rng = np.random.default_rng(0)
    matrix = pd.DataFrame(
        rng.standard_normal((8, 3)),
        index=[f"m{i}" for i in range(8)],
        columns=["semantic/rankme", "semantic/alpha", "crop/spread_ratio"],
    )
    scores = pd.DataFrame({"task": rng.standard_normal(8)}, index=matrix.index)
    return matrix, scores


def test_cluster_models_metrics():
    from manifold.zoo import cluster_models

    matrix, _ = _matrix_and_scores()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = cluster_models(matrix, metrics="crop/spread_ratio", n_clusters=2)
        listed = cluster_models(matrix, metrics=["crop/spread_ratio"], n_clusters=2)
    assert list(one.matrix.columns) == list(listed.matrix.columns) == ["crop/spread_ratio"]


def test_transfer_predictor_features_and_controls():
    from manifold.zoo import TransferPredictor

    matrix, scores = _matrix_and_scores()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = TransferPredictor(features="semantic/alpha").fit(matrix, scores)
        assert one.feature_names_in_ == ["semantic/alpha"]
        evaluation = TransferPredictor().evaluate(
            matrix, scores, n_permutations=0, n_bootstrap=0, controls="m7"
        )
    assert evaluation.table.loc["task", "n_models"] == 7


def test_profile_families_and_layers():
    from manifold.profiling import check_families

    assert list(check_families("crop")) == ["crop"]
    from manifold.embed import check_layer_entries

    assert check_layer_entries("features.*") == ["features.*"]
