import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import KFold
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from manifold.profiling import Profile
from manifold.zoo import TransferPredictor, metric_correlations
from manifold.zoo._ridge import ridge_loo_errors as _ridge_loo_errors
from manifold.zoo.transfer import DEFAULT_ALPHAS


def synthetic(seed=0, planted=True, n=24, p=15, noise=0.5):
    """n models × p metrics of N(0, 1); score = 2·m1 − m3 + noise (or pure noise)."""
    rng = np.random.default_rng(seed)
    names = [f"semantic/m{j}" for j in range(p)]
    names[4], names[5] = "semantic/rankme", "semantic/alpha"
    x = pd.DataFrame(rng.normal(size=(n, p)), index=[f"model{i}" for i in range(n)], columns=names)
    if planted:
        y = 2 * x["semantic/m1"] - x["semantic/m3"] + noise * rng.normal(size=n)
    else:
        y = pd.Series(rng.normal(size=n), index=x.index)
    return x, y.rename("task")


def to_profile(frame):
    records = [
        (model, *column.split("/", 1), "value", float(value))
        for model, row in frame.iterrows()
        for column, value in row.items()
    ]
    return Profile(pd.DataFrame(records, columns=["model", "manifold", "metric", "statistic",
                                                  "value"]))  # fmt: skip


def test_closed_form_leave_one_out_matches_refitting():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 4))
    y = x @ np.array([1.0, -2.0, 0.0, 0.5]) + rng.normal(size=10)
    alphas = np.array([0.01, 1.0, 10.0])
    xc = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    got = _ridge_loo_errors(u, s, y, alphas)
    for a, alpha in enumerate(alphas):
        for i in range(10):
            keep = np.arange(10) != i
            fit = Ridge(alpha=alpha).fit(xc[keep], y[keep])
            assert got[a, i] == pytest.approx((y[i] - fit.predict(xc[i : i + 1])[0]) ** 2)


def test_fit_matches_ridgecv_on_standardised_data():
    x, y = synthetic(seed=2)
    est = TransferPredictor().fit(x, y)
    xs = (x - x.mean()) / x.std(ddof=0)
    ys = (y - y.mean()) / y.std(ddof=0)
    ref = RidgeCV(alphas=np.array(DEFAULT_ALPHAS)).fit(xs.to_numpy(), ys.to_numpy())
    assert est.alpha_["task"] == pytest.approx(ref.alpha_)
    np.testing.assert_allclose(est.coef_.loc["task"].to_numpy(), ref.coef_, atol=1e-10)
    # predictions on the original scale agree with the reference rescaled back
    back = y.mean() + y.std(ddof=0) * ref.predict(xs.to_numpy())
    np.testing.assert_allclose(est.predict(x)["task"].to_numpy(), back, atol=1e-10)
    # intercept_ is on the original scale: ŷ = intercept + Σ coef · x / s_x · s_y
    slope = est.coef_.loc["task"] * y.std(ddof=0) / x.std(ddof=0)
    np.testing.assert_allclose(est.intercept_["task"] + x.to_numpy() @ slope.to_numpy(), back,
                               atol=1e-10)  # fmt: skip


def test_inner_kfold_matches_ridgecv_with_the_same_splitter():
    x, y = synthetic(seed=3)
    est = TransferPredictor(cv=4).fit(x, y)
    xs = (x - x.mean()) / x.std(ddof=0)
    ys = (y - y.mean()) / y.std(ddof=0)
    ref = RidgeCV(alphas=np.array(DEFAULT_ALPHAS), cv=KFold(4)).fit(xs.to_numpy(), ys.to_numpy())
    assert est.alpha_["task"] == pytest.approx(ref.alpha_)
    np.testing.assert_allclose(est.coef_.loc["task"].to_numpy(), ref.coef_, atol=1e-8)


def test_recovers_planted_relation_and_beats_baselines():
    x, y = synthetic(seed=0)
    ev = TransferPredictor().evaluate(x, y, n_permutations=199, seed=0)
    row = ev.table.loc["task"]
    assert row["r2"] > 0.6 and row["spearman"] > 0.7 and row["kendall"] > 0.5
    # with 15 metrics and 24 models a shuffled task is sometimes fitted well by chance (an
    # in-sample R² of 0.96 happens), so a few permutations may reach rho: p is small, not 1/200
    null = ev.null_spearman["task"]
    assert len(null) == 199 and np.median(null) < 0.3
    assert row["p_value"] == (1 + (null >= row["spearman"]).sum()) / 200 <= 0.02
    assert row["r2"] > row["null_r2"] + 0.5 and row["r2"] > row["directed_rankme_r2"] + 0.5
    assert row["spearman"] > row["directed_rankme_spearman"] + 0.3
    assert row["spearman"] > row["rankme_spearman"] + 0.3
    assert np.isnan(row["rankme_r2"])  # a label-free score has no score scale
    assert row["spearman_low"] > 0.3 and row["spearman_low"] <= row["spearman"]
    assert row["spearman"] <= row["spearman_high"] <= 1.0
    preds = ev.predictions
    baselines = ["rankme", "effective_rank", "alpha", "twonn", "lidar"]
    directed = [f"directed_{b}" for b in baselines]
    expected = ["task", "model", "control", "actual", "predicted"]
    expected += [c for pair in zip(baselines, directed, strict=True) for c in pair]
    assert list(preds.columns) == expected + ["spectral", "mean"]
    assert not preds["control"].any() and preds["lidar"].isna().all()
    # the label-free columns are the metrics in their papers' direction
    np.testing.assert_array_equal(preds["rankme"], x["semantic/rankme"])
    np.testing.assert_array_equal(preds["alpha"], -np.abs(x["semantic/alpha"] - 1))
    np.testing.assert_allclose(preds["actual"].to_numpy(), y.to_numpy())


def test_null_r2_known_answer():
    # held-out mean: ŷ_i = (Σy − y_i)/(n − 1) ⇒ R² = 1 − (n/(n−1))²
    x, y = synthetic(seed=4, n=10)
    row = TransferPredictor().evaluate(x, y, n_permutations=0).table.loc["task"]
    assert row["null_r2"] == pytest.approx(1 - (10 / 9) ** 2)
    assert np.isnan(row["p_value"])


def test_rankme_baseline_sees_a_rankme_driven_task():
    x, _ = synthetic(seed=5)
    rng = np.random.default_rng(0)
    y = (3 * x["semantic/rankme"] + 0.1 * rng.normal(size=len(x))).rename("task")
    row = TransferPredictor().evaluate(x, y, n_permutations=0).table.loc["task"]
    assert row["directed_rankme_r2"] > 0.95 and row["directed_rankme_spearman"] > 0.95
    assert row["rankme_spearman"] > 0.95  # higher RankMe, higher score: its paper's direction
    assert row["directed_alpha_r2"] < 0.3


def test_no_skill_claimed_on_pure_noise():
    # fixed seed; over noise seeds 0-7 the R² stayed below 0.12 and p ≤ 0.05 came up 2/8 times,
    # as a uniform null p-value should (see the slow test below)
    x, y = synthetic(seed=0, planted=False)
    row = TransferPredictor().evaluate(x, y, n_permutations=99, seed=0).table.loc["task"]
    assert row["r2"] < 0.2
    assert row["p_value"] > 0.05


@pytest.mark.slow
def test_no_skill_on_noise_over_seeds():
    # p ≤ 0.05 in ≥ 3 of 8 independent null data sets has probability 0.6 % (binomial(8, 0.05))
    rows = [
        TransferPredictor().evaluate(*synthetic(seed=s, planted=False), n_permutations=99)
        .table.loc["task"]
        for s in range(8)
    ]  # fmt: skip
    assert max(r["r2"] for r in rows) < 0.2
    assert sum(r["p_value"] <= 0.05 for r in rows) <= 2


def test_predicts_unseen_models():
    x, y = synthetic(seed=6, n=28, noise=0.05)
    est = TransferPredictor().fit(x.iloc[:24], y.iloc[:24])
    pred = est.predict(x.iloc[24:])
    assert list(pred.index) == list(x.index[24:]) and list(pred.columns) == ["task"]
    np.testing.assert_allclose(pred["task"].to_numpy(), y.iloc[24:].to_numpy(), atol=0.3)


def test_multiple_tasks_and_drivers():
    x, y = synthetic(seed=7)
    scores = pd.DataFrame({"a": y, "b": -3 * x["semantic/m7"] + 10})
    est = TransferPredictor()
    drivers = est.drivers(x, scores)
    assert est.tasks_ == ["a", "b"] and est.coef_.shape == (2, 15)
    top_a = drivers[drivers["task"] == "a"].head(2)
    assert set(top_a["metric"]) == {"semantic/m1", "semantic/m3"}
    signs = dict(zip(top_a["metric"], np.sign(top_a["coef"]), strict=True))
    assert signs == {"semantic/m1": 1.0, "semantic/m3": -1.0}
    assert (top_a["sign_agreement"] == 1.0).all()
    top_b = drivers[drivers["task"] == "b"].iloc[0]
    assert top_b["metric"] == "semantic/m7" and top_b["coef"] < -0.9
    assert est.intercept_["b"] == pytest.approx(10.0, abs=0.5)


def test_screening_keeps_the_planted_metrics():
    x, y = synthetic(seed=8, noise=0.2)
    drivers = TransferPredictor(max_features=2).drivers(x, y)
    chosen = drivers[drivers["selected_fraction"] == 1.0]["metric"]
    assert set(chosen) == {"semantic/m1", "semantic/m3"}
    assert (drivers["coef"] != 0).sum() == 2


def test_profile_and_dataframe_inputs_agree():
    x, y = synthetic(seed=9, n=12)
    a = TransferPredictor().evaluate(x, y, n_permutations=5, seed=1).table
    b = TransferPredictor().evaluate(to_profile(x), y, n_permutations=5, seed=1).table
    pd.testing.assert_frame_equal(a, b)


def test_missing_baseline_column_is_reported():
    x, y = synthetic(seed=10, n=10)
    x = x.drop(columns=["semantic/alpha"])
    ev = TransferPredictor().evaluate(x, y, n_permutations=0)
    assert np.isnan(ev.table.loc["task", "directed_alpha_r2"])
    assert np.isnan(ev.table.loc["task", "alpha_spearman"])
    assert any("'alpha'" in n and "no column" in n for n in ev.notes)
    assert np.isfinite(ev.table.loc["task", "directed_rankme_r2"])
    x.loc["model3", "semantic/rankme"] = np.nan
    with pytest.warns(UserWarning, match="rankme"):
        ev = TransferPredictor().evaluate(x, y, n_permutations=0)
    assert np.isnan(ev.table.loc["task", "rankme_spearman"])


def test_metric_correlations_match_pandas():
    x, y = synthetic(seed=11, n=15)
    got = metric_correlations(x, y)["task"]
    ref = x.apply(lambda c: c.corr(y, method="spearman"))
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy())
    tau = metric_correlations(x, y, method="kendall")["task"]
    np.testing.assert_allclose(tau.to_numpy(), x.apply(lambda c: c.corr(y, method="kendall")))


def test_constant_metrics_are_dropped_on_fit():
    x, y = synthetic(seed=12, n=10)
    x["crop/constant"] = 1.0
    est = TransferPredictor().fit(x, y)
    assert "crop/constant" in est.dropped_features_
    assert "crop/constant" not in est.feature_names_in_
    notes = TransferPredictor().evaluate(x, y, n_permutations=0).notes
    assert any("crop/constant" in n and "constant" in n for n in notes)
    with pytest.raises(ValueError, match="requested features"):
        TransferPredictor(features=["crop/constant", "semantic/m1"]).fit(x, y)


def test_errors():
    x, y = synthetic(seed=13, n=10)
    with pytest.raises(ValueError, match="scores but no profile"):
        TransferPredictor().fit(x.iloc[1:], y)
    with pytest.raises(ValueError, match="profile but no scores"):
        TransferPredictor().fit(x, y.iloc[1:])
    bad = y.copy()
    bad.iloc[2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        TransferPredictor().fit(x, bad)
    with pytest.raises(ValueError, match="at least 4 models"):
        TransferPredictor().fit(x.iloc[:3], y.iloc[:3])
    with pytest.raises(RuntimeError, match="not fitted"):
        TransferPredictor().predict(x)
    est = TransferPredictor().fit(x, y)
    with pytest.raises(ValueError, match="lack metrics"):
        est.predict(x.drop(columns=["semantic/m1"]))
    with pytest.raises(ValueError, match="alpha_grid"):
        TransferPredictor(alpha_grid=[0.0, 1.0]).fit(x, y)
    with pytest.raises(ValueError, match="cv"):
        TransferPredictor(cv="loo").fit(x, y)
    with pytest.raises(ValueError, match="max_features"):
        TransferPredictor(max_features=0).fit(x, y)
    with pytest.raises(TypeError, match="DataFrame"):
        TransferPredictor().fit(x, y.to_numpy())


def test_scikit_learn_estimator_contract():
    est = TransferPredictor(max_features=3, cv=5)
    check_get_params_invariance("TransferPredictor", est)
    check_set_params("TransferPredictor", est)
    check_no_attributes_set_in_init("TransferPredictor", est)
    check_parameters_default_constructible("TransferPredictor", TransferPredictor())
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    x, y = synthetic(seed=14, n=10)
    assert est.fit(x, y) is est
    assert not hasattr(clone(est), "coef_")
    assert est.set_params(max_features=None).max_features is None


def test_agreement_statistics_by_hand():
    from scipy.stats import kendalltau, spearmanr, weightedtau

    from manifold.zoo.evaluation import _ranking as _agreement

    actual = np.array([70.0, 80.0, 65.0, 90.0, 75.0])
    predicted = np.array([1.0, 5.0, 0.0, 4.0, 2.0])  # picks model 1 (80); the best is model 3
    got = _agreement(actual, predicted)
    assert got["regret"] == pytest.approx(90.0 - 80.0)
    assert got["top1"] == 0.0 and got["top3"] == 1.0  # model 3 is predicted second
    assert got["spearman"] == pytest.approx(spearmanr(actual, predicted).statistic)
    assert got["kendall"] == pytest.approx(kendalltau(actual, predicted).statistic)
    assert got["weighted_tau"] == pytest.approx(weightedtau(actual, predicted).statistic)
    perfect = _agreement(actual, actual / 10)
    assert perfect["regret"] == 0.0 and perfect["top1"] == 1.0
    assert perfect["spearman"] == pytest.approx(1.0)


def test_spearman_bootstrap_interval_against_a_direct_loop():
    from scipy.stats import spearmanr

    from manifold.zoo._evaluation import percentile_interval, resample_indices, spearman_over

    rng = np.random.default_rng(0)
    a = rng.normal(size=40)
    b = a + rng.normal(size=40)
    idx = resample_indices(40, None, 2000, np.random.default_rng(1))
    low, high = percentile_interval(spearman_over(a, b[:, None], idx)[:, 0])
    rho = spearmanr(a, b).statistic
    assert low < rho < high
    # against a direct (slow) bootstrap with the same resampled indices
    ref = [spearmanr(a[i], b[i]).statistic for i in idx]
    assert low == pytest.approx(np.percentile(ref, 2.5)) and high == pytest.approx(
        np.percentile(ref, 97.5)
    )
    # independent data: the interval covers 0
    c = rng.normal(size=40)
    low0, high0 = percentile_interval(spearman_over(a, c[:, None], idx)[:, 0])
    assert low0 < 0 < high0


def test_grouped_cv_holds_out_whole_groups():
    x, y = synthetic(seed=14, n=24)
    groups = {m: f"g{i // 4}" for i, m in enumerate(x.index)}  # 6 groups of 4
    ev = TransferPredictor().evaluate(x, y, groups=groups, n_permutations=0)
    # a group's held-out predictions must not depend on that group's own scores
    y2 = y.copy()
    y2.iloc[:4] += 100.0
    ev2 = TransferPredictor().evaluate(x, y2, groups=groups, n_permutations=0)
    p1, p2 = ev.predictions.set_index("model"), ev2.predictions.set_index("model")
    np.testing.assert_allclose(p1["predicted"].iloc[:4], p2["predicted"].iloc[:4])
    assert not np.allclose(p1["predicted"].iloc[4:], p2["predicted"].iloc[4:])
    # the null is the training mean of the other groups
    yv = y.to_numpy()
    null = np.concatenate([np.full(4, np.delete(yv, range(g * 4, g * 4 + 4)).mean())
                           for g in range(6)])  # fmt: skip
    ss = ((yv - null) ** 2).sum() / ((yv - yv.mean()) ** 2).sum()
    assert ev.table.loc["task", "null_r2"] == pytest.approx(1 - ss)
    assert any(
        "leave one group out (6 groups; inner folds keep groups whole" in n for n in ev.notes
    )
    with pytest.raises(ValueError, match="at least 3 groups"):
        TransferPredictor().evaluate(x, y, groups={m: m < "model5" for m in x.index})


def test_controls_are_reported_apart():
    x, y = synthetic(seed=15, n=20)
    base = TransferPredictor().evaluate(x.iloc[:18], y.iloc[:18], n_permutations=9, seed=3)
    y_ctrl = y.copy()
    y_ctrl.iloc[18:] = [-50.0, 80.0]  # extreme controls must not move any statistic
    ev = TransferPredictor().evaluate(x, y_ctrl, n_permutations=9, seed=3,
                                      controls=list(x.index[18:]))  # fmt: skip
    pd.testing.assert_frame_equal(ev.table, base.table)
    ctrl = ev.predictions[ev.predictions["control"]]
    assert list(ctrl["model"]) == list(x.index[18:])
    ref = TransferPredictor().fit(x.iloc[:18], y.iloc[:18]).predict(x.iloc[18:])["task"]
    np.testing.assert_allclose(ctrl["predicted"].to_numpy(), ref.to_numpy())
    with pytest.raises(ValueError, match="have no scores"):
        TransferPredictor().evaluate(x, y, controls=["nope"])


def test_headline_names_both_predictors():
    x, y = synthetic(seed=16, n=12)
    line = TransferPredictor().evaluate(x, y, n_permutations=9).headline("task")
    assert line.startswith("task: profile rho") and "RankMe (higher is better) rho" in line
    assert "regret" in line


def test_baseline_ranks_its_metric_in_the_training_direction():
    from scipy.stats import spearmanr

    x, _ = synthetic(seed=17, n=20)
    rng = np.random.default_rng(1)
    # the score falls as alpha rises, and is unrelated to RankMe
    y = (-2 * x["semantic/alpha"] + 0.3 * rng.normal(size=20)).rename("task")
    row = TransferPredictor().evaluate(x, y, n_permutations=0).table.loc["task"]
    rho = spearmanr(x["semantic/alpha"], y).statistic
    assert row["directed_alpha_spearman"] == pytest.approx(-rho)
    # an unrelated metric is judged by its own ranking (its direction may flip between folds),
    # not by the leave-one-out training mean, whose rank correlation with the score is -1
    from manifold.zoo._ridge import mean_lomo

    assert spearmanr(mean_lomo(y.to_numpy()), y).statistic == pytest.approx(-1.0)
    assert row["directed_rankme_spearman"] > -0.9


def test_results_do_not_depend_on_the_order_of_the_models():
    x, y = synthetic(seed=4)
    shuffled = np.random.default_rng(1).permutation(len(x))
    kwargs = dict(n_permutations=19, n_bootstrap=200, seed=3)
    ev = TransferPredictor().evaluate(x, y, **kwargs)
    ev_shuffled = TransferPredictor().evaluate(x.iloc[shuffled], y.iloc[shuffled], **kwargs)
    pd.testing.assert_frame_equal(ev.table, ev_shuffled.table)  # intervals and p-values too
    # the predictions keep the order they were given in
    assert list(ev_shuffled.predictions["model"]) == list(x.index[shuffled])
    wide = metric_correlations(x, y, n_bootstrap=200, seed=3)
    wide_shuffled = metric_correlations(x.iloc[shuffled], y.iloc[shuffled], n_bootstrap=200,
                                        seed=3)  # fmt: skip
    pd.testing.assert_frame_equal(wide, wide_shuffled)


def test_fit_and_drivers_do_not_depend_on_the_order_of_the_models():
    x, y = synthetic(seed=6)
    shuffled = np.random.default_rng(2).permutation(len(x))
    for options in ({}, {"cv": 3}, {"cv": 3, "max_features": 2}):
        a = TransferPredictor(**options).fit(x, y)
        b = TransferPredictor(**options).fit(x.iloc[shuffled], y.iloc[shuffled])
        pd.testing.assert_series_equal(a.alpha_, b.alpha_)
        pd.testing.assert_frame_equal(a.coef_, b.coef_)
        pd.testing.assert_frame_equal(
            TransferPredictor(**options).drivers(x, y),
            TransferPredictor(**options).drivers(x.iloc[shuffled], y.iloc[shuffled]),
        )
        # predictions follow the rows asked for
        pd.testing.assert_frame_equal(a.predict(x.iloc[shuffled]), b.predict(x.iloc[shuffled]))


def test_grouped_closed_form_solves_groups_of_one_size_together():
    """Groups of equal size are solved in one batch: the same errors as refitting without each."""
    from sklearn.model_selection import LeaveOneGroupOut

    from manifold.zoo._ridge import ridge_group_errors, split_errors

    rng = np.random.default_rng(4)
    x = rng.normal(size=(22, 6))
    y = x[:, 0] - x[:, 3] + 0.5 * rng.normal(size=22)
    # sizes 2, 2, 2, 3, 3, 1, 1, 4, 4 in shuffled order: several batches of several groups
    groups = rng.permutation(np.repeat(list("abcdefghi"), [2, 2, 2, 3, 3, 1, 1, 4, 4]))
    alphas = np.logspace(-2, 2, 5)
    xc, yc = x - x.mean(axis=0), y - y.mean()
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    got = ridge_group_errors(u, s, yc, alphas, groups)
    splits = list(LeaveOneGroupOut().split(x, groups=groups))
    np.testing.assert_allclose(got, split_errors(xc, yc, alphas, splits), rtol=1e-10)


def test_grouped_closed_form_matches_refitting_without_each_group():
    from sklearn.model_selection import LeaveOneGroupOut

    from manifold.zoo._ridge import ridge_group_errors, split_errors

    rng = np.random.default_rng(3)
    x = rng.normal(size=(15, 4))
    y = x @ np.array([1.0, -2.0, 0.0, 0.5]) + rng.normal(size=15)
    groups = np.repeat(["a", "b", "c", "d", "e"], [2, 4, 3, 1, 5])
    alphas = np.array([0.01, 1.0, 30.0])
    xc, yc = x - x.mean(axis=0), y - y.mean()
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    got = ridge_group_errors(u, s, yc, alphas, groups)
    splits = list(LeaveOneGroupOut().split(x, groups=groups))
    np.testing.assert_allclose(got, split_errors(xc, yc, alphas, splits), rtol=1e-10)
    # and against scikit-learn's Ridge refitted without each group
    for a, alpha in enumerate(alphas):
        for train, test in splits:
            fit = Ridge(alpha=alpha).fit(xc[train], yc[train])
            np.testing.assert_allclose(got[a, test], (yc[test] - fit.predict(xc[test])) ** 2,
                                       rtol=1e-10)  # fmt: skip
