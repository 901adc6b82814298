"""manifold.select: ordering, collapse, within-noise ties and errors, computed by hand."""

import numpy as np
import pandas as pd
import pytest

import manifold
from manifold.profiling import Profile
from manifold.results import COLUMNS
from manifold.zoo import TransferPredictor, select

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)


def profile_from(values: dict, se: dict | None = None, failures=()) -> Profile:
    """A Profile with one "value" row (and one "se" row) per model and column."""
    rows = []
    for model, cols in values.items():
        for column, v in cols.items():
            manifold_name, metric = column.split("/", 1)
            rows.append([model, manifold_name, metric, "value", v])
            if se is not None:
                rows.append([model, manifold_name, metric, "se", se[model][column]])
    return Profile(pd.DataFrame(rows, columns=COLUMNS), {m: {} for m in values}, list(failures))


def test_orders_by_rankme_marks_ties_and_puts_collapse_last():
    values = {"a": 20.0, "b": 30.0, "c": 28.0, "d": 1.5, "e": 10.0}
    errors = {"a": 1.0, "b": 1.0, "c": 0.5, "d": 0.1, "e": 1.0}
    prof = profile_from({m: {"semantic/rankme": v} for m, v in values.items()},
                        {m: {"semantic/rankme": s} for m, s in errors.items()})  # fmt: skip
    table = select(prof, by="rankme")
    assert table.index.tolist() == ["b", "c", "a", "e", "d"]
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert table.loc["d", "collapsed"] and "RankMe 1.50" in table.loc["d", "reason"]
    # by hand: best - score <= z sqrt(se_best^2 + se^2)
    for m in ("b", "c", "a", "e"):
        expected = 30.0 - values[m] <= Z95 * np.sqrt(1.0 + errors[m] ** 2)
        assert bool(table.loc[m, "within_noise"]) == expected
    assert table.loc["c", "within_noise"] and not table.loc["a", "within_noise"]
    assert not table.loc["d", "within_noise"]
    np.testing.assert_allclose(table.loc[["b", "c"], "se"], [1.0, 0.5])
    # the collapse threshold is a parameter
    assert not select(prof, by="rankme", collapse_rank=1.0).loc["d", "collapsed"]


def test_alpha_closest_to_one_and_twonn_lower():
    m = pd.DataFrame({"semantic/alpha": [0.7, 1.05, 1.6, 0.95],
                      "semantic/twonn_dimension": [4.0, 9.0, 2.0, 6.0],
                      "semantic/rankme": [10.0, 10.0, 10.0, 10.0]},
                     index=["w", "x", "y", "z"])  # fmt: skip
    table = select(m, by="alpha")
    assert table.index.tolist() == ["x", "z", "w", "y"]
    np.testing.assert_allclose(table.loc["w", "score"], -0.3)
    assert table["within_noise"].isna().all() and table["se"].isna().all()  # no bootstrap rows
    assert select(m, by="twonn").index.tolist() == ["y", "w", "z", "x"]


def test_lidar_is_the_mean_over_families_with_its_error():
    values = {"p": {"semantic/rankme": 9.0, "crop/lidar": 4.0, "color/lidar": 6.0},
              "q": {"semantic/rankme": 9.0, "crop/lidar": 8.0, "color/lidar": 6.0}}  # fmt: skip
    errors = {"p": {"semantic/rankme": 0.1, "crop/lidar": 0.3, "color/lidar": 0.4},
              "q": {"semantic/rankme": 0.1, "crop/lidar": 0.6, "color/lidar": 0.8}}  # fmt: skip
    table = select(profile_from(values, errors), by="lidar")
    assert table.index.tolist() == ["q", "p"]
    np.testing.assert_allclose(table.loc["p", ["score", "se"]].astype(float), [5.0, 0.25])
    np.testing.assert_allclose(table.loc["q", "se"], 0.5)


def test_failed_spectrum_counts_as_collapsed():
    values = {m: {"semantic/rankme": v} for m, v in (("ok", 12.0), ("dead", 12.0))}
    failure = {"model": "dead", "manifold": "semantic", "metric": "alpha",
               "error": "the covariance is zero"}  # fmt: skip
    table = select(profile_from(values, failures=[failure]), by="rankme")
    assert table.index.tolist() == ["ok", "dead"]
    assert table.loc["dead", "reason"] == "semantic alpha: the covariance is zero"
    # a criterion that is undefined for a candidate puts it last too
    m = pd.DataFrame({"semantic/rankme": [5.0, 6.0], "semantic/alpha": [np.nan, 1.0]},
                     index=["u", "v"])  # fmt: skip
    table = select(m, by="alpha")
    assert table.index.tolist() == ["v", "u"] and "undefined" in table.loc["u", "reason"]


def test_predictor_scores_and_delta_method_errors():
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(20, 3)), columns=["semantic/a", "semantic/b",
                         "semantic/rankme"], index=[f"t{i}" for i in range(20)])  # fmt: skip
    scores = pd.Series(2 * train["semantic/a"] - train["semantic/b"] + 0.1 * rng.normal(size=20),
                       index=train.index, name="task")  # fmt: skip
    est = TransferPredictor().fit(train, scores)
    cand = {f"c{i}": {c: float(v) for c, v in zip(train.columns, rng.normal(size=3), strict=True)}
            for i in range(4)}  # fmt: skip
    for c in cand.values():
        c["semantic/rankme"] = abs(c["semantic/rankme"]) + 5
    errs = {m: {c: 0.1 * (j + 1) for j, c in enumerate(train.columns)} for m in cand}
    table = select(profile_from(cand, errs), by=est)
    frame = pd.DataFrame(cand).T
    expected = est.predict(frame)["task"]
    np.testing.assert_allclose(table["score"], expected.loc[table.index])
    assert table["criterion"].iloc[0] == "TransferPredictor (task)"
    # delta method by finite differences of predict: se^2 = sum_j (d yhat / d x_j)^2 se_j^2
    for model in cand:
        grad = []
        for column in train.columns:
            bumped = frame.loc[[model]].copy()
            bumped[column] += 1e-6
            grad.append((est.predict(bumped)["task"].iloc[0] - expected[model]) / 1e-6)
        se = np.sqrt(sum((g * errs[model][c]) ** 2 for g, c in zip(grad, train.columns,
                                                                     strict=True)))  # fmt: skip
        assert table.loc[model, "se"] == pytest.approx(se, rel=1e-4)


def test_select_errors():
    m = pd.DataFrame({"semantic/rankme": [5.0, 6.0]}, index=["u", "v"])
    with pytest.raises(ValueError, match="unknown criterion"):
        select(m, by="accuracy")
    with pytest.raises(ValueError, match="no column 'semantic/alpha'"):
        select(m, by="alpha")
    with pytest.raises(ValueError, match="no 'lidar' column"):
        select(m, by="lidar")
    with pytest.raises(ValueError, match="not fitted"):
        select(m, by=TransferPredictor())
    with pytest.raises(TypeError, match="criterion name"):
        select(m, by=3)
    with pytest.raises(ValueError, match="confidence"):
        select(m, confidence=1.5)


def test_exported_at_top_level():
    assert manifold.select is select


def test_confidence_sets_the_width_of_the_noise_band():
    from scipy.stats import norm

    values = {"a": 26.0, "b": 30.0, "c": 28.0, "e": 29.5}
    errors = {"a": 1.0, "b": 1.0, "c": 0.5, "e": 0.3}
    prof = profile_from({m: {"semantic/rankme": v} for m, v in values.items()},
                        {m: {"semantic/rankme": s} for m, s in errors.items()})  # fmt: skip
    marks = {}
    for confidence in (0.5, 0.95, 0.999):
        table = select(prof, by="rankme", confidence=confidence)
        z = norm.ppf(0.5 + confidence / 2)
        for m in values:
            expected = 30.0 - values[m] <= z * np.sqrt(1.0 + errors[m] ** 2)
            assert bool(table.loc[m, "within_noise"]) == expected, (confidence, m)
        marks[confidence] = table["within_noise"].sum()
    assert marks[0.5] < marks[0.95] < marks[0.999]  # c joins the band at 95 %, a at 99.9 %


def test_statistic_and_task_of_a_predictor():
    rng = np.random.default_rng(1)
    train = pd.DataFrame(rng.normal(size=(16, 2)), columns=["semantic/local_dimension",
                         "semantic/rankme"], index=[f"t{i}" for i in range(16)])  # fmt: skip
    scores = pd.DataFrame({"up": train["semantic/local_dimension"] + 0.1 * rng.normal(size=16),
                           "down": -train["semantic/local_dimension"]})  # fmt: skip
    est = TransferPredictor().fit(train, scores)
    rows = []
    means, medians = rng.normal(size=4), rng.normal(size=4)
    for i in range(4):
        rows += [[f"c{i}", "semantic", "local_dimension", "mean", means[i]],
                 [f"c{i}", "semantic", "local_dimension", "median", medians[i]],
                 [f"c{i}", "semantic", "rankme", "value", 10.0 + i]]  # fmt: skip
    prof = Profile(pd.DataFrame(rows, columns=COLUMNS))
    frame = lambda v: pd.DataFrame({"semantic/local_dimension": v,  # noqa: E731
                                    "semantic/rankme": 10.0 + np.arange(4)},
                                   index=[f"c{i}" for i in range(4)])  # fmt: skip
    for statistic, values in (("mean", means), ("median", medians)):
        for task in ("up", "down"):
            table = select(prof, by=est, task=task, statistic=statistic)
            expected = est.predict(frame(values))[task]
            np.testing.assert_allclose(table["score"], expected.loc[table.index])
            assert table.index.tolist() == expected.sort_values(ascending=False).index.tolist()
            assert table["criterion"].iloc[0] == f"TransferPredictor ({task})"
    with pytest.raises(ValueError, match="pick one with task="):
        select(prof, by=est)


def test_collapse_rank_is_inclusive():
    m = pd.DataFrame({"semantic/rankme": [2.0, 2.0001, 7.0]}, index=["at", "above", "far"])
    table = select(m, by="rankme")
    assert table.loc["at", "collapsed"] and not table.loc["above", "collapsed"]
    assert table.index.tolist() == ["far", "above", "at"]
    assert select(m, by="rankme", collapse_rank=7.0)["collapsed"].all()
