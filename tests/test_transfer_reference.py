"""Every column of ``TransferPredictor.evaluate`` against a reference written here.

The reference refits ridge regression with ``numpy.linalg.solve`` (checked against
scikit-learn's ``Ridge`` below), chooses the penalty by refitting without each inner fold, and
computes every statistic with scipy from its own held-out predictions: the profile, each
label-free baseline, each ``directed_*`` baseline (its sign learned fold by fold), ``spectral``,
``reference``, ``combined``, the gain, the within-group statistics, the bootstrap intervals
(the resamples drawn again from the seed) and the permutation nulls behind the p-values.

The data are small and chosen so that the plausible bugs change the answers: the best model is
ranked first by some predictors, second or third by others and lower still by others (top1,
top3 and regret all vary), a weakly related baseline flips its learned sign between folds, the
groups have unequal sizes and one has a single model (left out of the within-group statistics),
and LiDAR is the mean of two families.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau, spearmanr, weightedtau
from sklearn.linear_model import Ridge

from manifold.zoo import TransferPredictor
from manifold.zoo.evaluation import AGREEMENT

ALPHAS = (0.05, 1.0, 20.0)
LABEL_FREE = ("rankme", "effective_rank", "alpha", "twonn", "lidar")
COLUMN = {"rankme": "semantic/rankme", "effective_rank": "semantic/effective_rank",
          "alpha": "semantic/alpha", "twonn": "semantic/twonn_dimension"}  # fmt: skip
# 12 models in 5 groups of unequal size; "g4" has one model
GROUPS = np.array(["g0"] * 3 + ["g1"] * 3 + ["g2"] * 3 + ["g3"] * 2 + ["g4"])


def data(seed=0, n=12):
    """n models (names in sorted order), 8 metrics, one task and a two-column reference."""
    rng = np.random.default_rng(seed)
    models = [f"m{i:02d}" for i in range(n)]
    x = pd.DataFrame({
        "semantic/rankme": rng.uniform(5, 30, n),
        "semantic/effective_rank": rng.uniform(5, 30, n),
        "semantic/alpha": rng.uniform(0.5, 1.5, n),
        "semantic/twonn_dimension": rng.uniform(2, 12, n),
        "crop/lidar": rng.uniform(3, 9, n),
        "color/lidar": rng.uniform(3, 9, n),
        "semantic/m0": rng.normal(size=n),
        "semantic/m1": rng.normal(size=n),
    }, index=models)  # fmt: skip
    y = (x["semantic/m0"] - 0.15 * x["semantic/twonn_dimension"] + 0.05 * x["semantic/rankme"]
         + 0.4 * rng.normal(size=n)).rename("task")  # fmt: skip
    known = x["semantic/m0"].to_numpy() + rng.normal(size=n)
    flag = rng.integers(0, 2, n).astype(bool)
    reference = pd.DataFrame({"known": known, "flag": flag}, index=models)
    return x, y, reference


# -- the reference ------------------------------------------------------------------------------
def ridge_solve(x, y, alpha):
    """Ridge with an unpenalised intercept, by the normal equations of the centred data."""
    xm, ym = x.mean(axis=0), y.mean()
    xc = x - xm
    coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - ym))
    return coef, ym - xm @ coef


def test_the_reference_ridge_is_scikit_learns():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 3)), rng.normal(size=9)
    coef, intercept = ridge_solve(x, y, 0.7)
    fit = Ridge(alpha=0.7).fit(x, y)
    np.testing.assert_allclose(coef, fit.coef_, rtol=1e-10)
    assert intercept == pytest.approx(fit.intercept_, rel=1e-10)


def standardise(x):
    mean, std = x.mean(axis=0), x.std(axis=0)
    constant = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    scale = np.where(constant, 1.0, std)
    xs = (x - mean) / scale
    xs[:, constant] = 0.0
    return xs, mean, scale


def leave_one_out(n, groups=None):
    """Inner folds: one model at a time, or one whole group at a time."""
    if groups is None:
        return [np.array([i]) for i in range(n)]
    return [np.flatnonzero(groups == g) for g in pd.unique(groups)]


def fit_predict(x_train, y_train, x_new, alphas, inner, max_features=None):
    """z-score on the training models, screen, pick the penalty by refits, predict."""
    xs, xm, xsd = standardise(x_train)
    ym, ysd = y_train.mean(), y_train.std()
    ys = (y_train - ym) / ysd
    columns = np.arange(x_train.shape[1])
    if max_features is not None and max_features < xs.shape[1]:
        r = np.array([abs(np.mean(xs[:, j] * ys)) for j in columns])  # Pearson r (both z-scored)
        columns = np.sort(np.argsort(-r, kind="stable")[:max_features])
    xs = xs[:, columns]
    errors = []
    for alpha in alphas:
        squared = []
        for test in inner:
            train = np.setdiff1d(np.arange(len(ys)), test)
            coef, b = ridge_solve(xs[train], ys[train], alpha)
            squared.extend((ys[test] - b - xs[test] @ coef) ** 2)
        errors.append(np.mean(squared))
    coef, b = ridge_solve(xs, ys, alphas[int(np.argmin(errors))])
    new = (x_new[:, columns] - xm[columns]) / xsd[columns]
    return ym + ysd * (b + new @ coef)


def held_out(x, y, folds, alphas, groups=None, max_features=None):
    """Each fold predicted by a fit on the others (inner folds keep ``groups`` whole)."""
    x = x.reshape(len(y), -1)
    pred = np.empty(len(y))
    for test in folds:
        train = np.setdiff1d(np.arange(len(y)), test)
        inner = leave_one_out(train.size, None if groups is None else groups[train])
        pred[test] = fit_predict(x[train], y[train], x[test], alphas, inner, max_features)
    return pred


def directed_by_hand(values, y, folds):
    """Each held-out model gets ±metric, the sign of the metric's correlation on the others."""
    out, signs = np.empty(len(y)), []
    for test in folds:
        train = np.setdiff1d(np.arange(len(y)), test)
        sign = 1.0 if np.corrcoef(values[train], y[train])[0, 1] >= 0 else -1.0
        out[test] = sign * values[test]
        signs.append(sign)
    return out, np.array(signs)


def agreement_by_hand(actual, score, fitted):
    """Spearman, Kendall, weighted tau, regret, top-1/3 and R² written out directly."""
    best = np.argmax(actual)
    # how many models the score puts above the best one (no ties in these data)
    place = int((score > score[best]).sum())
    out = {
        "spearman": spearmanr(actual, score).statistic,
        "kendall": kendalltau(actual, score).statistic,
        "weighted_tau": weightedtau(actual, score).statistic,
        "regret": actual.max() - actual[np.argmax(score)],
        "top1": float(place == 0),
        "top3": float(place < 3),
        "r2": np.nan,
    }
    if fitted is not None:
        out["r2"] = 1 - ((actual - fitted) ** 2).sum() / ((actual - actual.mean()) ** 2).sum()
    return out, place


def bootstrap_draws(seed, n, groups, n_bootstrap):
    """The resamples: the first of three streams spawned from ``seed``, models or groups."""
    rng = np.random.default_rng(seed).spawn(3)[0]
    if groups is None:
        return list(rng.integers(0, n, size=(n_bootstrap, n)))
    labels = list(pd.unique(groups))
    draws = rng.integers(0, len(labels), size=(n_bootstrap, len(labels)))
    return [np.concatenate([np.flatnonzero(groups == labels[d]) for d in row]) for row in draws]


def rho_over(a, b, resamples):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array([spearmanr(a[i], b[i]).statistic for i in resamples])


def interval(values):
    values = values[np.isfinite(values)]
    return np.percentile(values, 2.5), np.percentile(values, 97.5)


def within_by_hand(actual, score, groups):
    """Spearman of the residuals from each group's mean, models in groups of two or more."""
    frame = pd.DataFrame({"a": actual, "s": score, "g": groups})
    res = frame[["a", "s"]] - frame.groupby("g")[["a", "s"]].transform("mean")
    keep = frame["g"].map(frame["g"].value_counts()).to_numpy() >= 2
    return res["a"].to_numpy(), res["s"].to_numpy(), keep


def reference_predictions(x, y, reference, folds, inner_groups, max_features=None):
    """Prefix -> (ranking score, values behind R² or None) for every predictor."""
    xv, yv = x.to_numpy(), y.to_numpy()
    ridge = lambda m, screen=False: held_out(m, yv, folds, ALPHAS, inner_groups,  # noqa: E731
                                             max_features if screen else None)  # fmt: skip
    metric = {b: x[c].to_numpy() for b, c in COLUMN.items()}
    metric["lidar"] = (x["crop/lidar"] + x["color/lidar"]).to_numpy() / 2
    profile = ridge(xv, screen=True)
    out = {"": (profile, profile)}
    label_free = {"rankme": metric["rankme"], "effective_rank": metric["effective_rank"],
                  "alpha": -np.abs(metric["alpha"] - 1), "twonn": -metric["twonn"],
                  "lidar": metric["lidar"]}  # fmt: skip
    for b in LABEL_FREE:
        out[b] = (label_free[b], None)
        out[f"directed_{b}"] = (directed_by_hand(metric[b], yv, folds)[0], ridge(metric[b]))
    spectral = ridge(np.column_stack([metric[b] for b in LABEL_FREE]))
    out["spectral"] = (spectral, spectral)
    if reference is not None:
        ref = reference.astype(float).to_numpy()
        alone, both = ridge(ref), ridge(np.column_stack([xv, ref]), screen=True)
        out["reference"], out["combined"] = (alone, alone), (both, both)
    return out


def check_table(row, y, predictors, resamples, groups=None):
    """Every agreement, interval and within column of ``row`` against the reference."""
    yv = y.to_numpy()
    places = []
    for name, (score, fitted) in predictors.items():
        prefix = f"{name}_" if name else ""
        expected, place = agreement_by_hand(yv, score, fitted)
        places.append(place)
        for key in ("spearman", "kendall", "weighted_tau", "regret", "top1", "top3", "r2"):
            got = row[f"{prefix}{key}"]
            assert got == pytest.approx(expected[key], rel=1e-9, abs=1e-12, nan_ok=True), (
                name, key)  # fmt: skip
        low, high = interval(rho_over(yv, score, resamples))
        assert row[f"{prefix}spearman_low"] == pytest.approx(low, rel=1e-9), name
        assert row[f"{prefix}spearman_high"] == pytest.approx(high, rel=1e-9), name
        if groups is None:
            assert np.isnan(row[f"{prefix}within_spearman"])
            continue
        ra, rs, keep = within_by_hand(yv, score, groups)
        if np.ptp(rs[keep]) < 1e-9:  # a score constant within groups ranks nothing there
            assert np.isnan(row[f"{prefix}within_spearman"]), name
            continue
        assert row[f"{prefix}within_spearman"] == pytest.approx(
            spearmanr(ra[keep], rs[keep]).statistic, rel=1e-9), name  # fmt: skip
        inside = [i[keep[i]] for i in resamples]
        w_low, w_high = interval(rho_over(ra, rs, inside))
        assert row[f"{prefix}within_spearman_low"] == pytest.approx(w_low, rel=1e-9), name
        assert row[f"{prefix}within_spearman_high"] == pytest.approx(w_high, rel=1e-9), name
    return places


def test_every_column_leaving_one_model_out():
    x, y, reference = data(seed=1)
    folds = leave_one_out(len(y))
    est = TransferPredictor(alpha_grid=ALPHAS)
    ev = est.evaluate(x, y, reference=reference, n_bootstrap=40, n_permutations=0, seed=5)
    row, pred = ev.table.loc["task"], ev.predictions.set_index("model")
    predictors = reference_predictions(x, y, reference, folds, None)
    assert set(ev.baselines) | {""} == set(predictors)
    places = check_table(row, y, predictors, bootstrap_draws(5, len(y), None, 40))
    # the case discriminates: the best model is ranked first, in the top three and lower
    assert {0, 1, 2} <= set(places) and max(places) >= 3
    # null_r2: the training mean under the same folds
    yv = y.to_numpy()
    null = np.array([np.delete(yv, i).mean() for i in range(len(yv))])
    assert row["null_r2"] == pytest.approx(1 - ((yv - null) ** 2).sum()
                                           / ((yv - yv.mean()) ** 2).sum())  # fmt: skip
    # the gain and its paired interval
    resamples = bootstrap_draws(5, len(y), None, 40)
    assert row["gain_spearman"] == pytest.approx(
        row["combined_spearman"] - row["reference_spearman"])  # fmt: skip
    diff = (rho_over(yv, predictors["combined"][0], resamples)
            - rho_over(yv, predictors["reference"][0], resamples))  # fmt: skip
    assert (row["gain_spearman_low"], row["gain_spearman_high"]) == pytest.approx(interval(diff))
    # the predictions table holds the same held-out values
    np.testing.assert_allclose(pred["predicted"], predictors[""][0], rtol=1e-9)
    for name, (score, _) in predictors.items():
        if name:
            np.testing.assert_allclose(pred[name], score, rtol=1e-9, err_msg=name)
    np.testing.assert_allclose(pred["mean"], null, rtol=1e-12)


def test_directed_baselines_learn_their_sign_fold_by_fold():
    x, y, _ = data(seed=0)
    folds = leave_one_out(len(y))
    ev = TransferPredictor(alpha_grid=ALPHAS).evaluate(x, y, n_bootstrap=0, n_permutations=0)
    pred = ev.predictions.set_index("model")
    flips = 0
    for b in ("rankme", "effective_rank", "alpha", "twonn"):
        values = x[COLUMN[b]].to_numpy()
        expected, signs = directed_by_hand(values, y.to_numpy(), folds)
        np.testing.assert_array_equal(pred[f"directed_{b}"].to_numpy(), expected, err_msg=b)
        full = np.sign(np.corrcoef(values, y)[0, 1])
        flips += int((signs != full).sum())
        # the label-free score keeps its paper's sign whatever the folds show
        assert ev.table.loc["task", f"{b}_spearman"] == pytest.approx(
            spearmanr(y, pred[b]).statistic)  # fmt: skip
    assert flips > 0  # some fold's training sign differs from the full data's


def test_directed_sign_by_whole_groups():
    x, y, _ = data(seed=1)
    folds = [np.flatnonzero(GROUPS == g) for g in pd.unique(GROUPS)]
    ev = TransferPredictor(alpha_grid=ALPHAS).evaluate(
        x, y, groups=pd.Series(GROUPS, index=x.index), n_bootstrap=0, n_permutations=0)  # fmt: skip
    pred = ev.predictions.set_index("model")
    for b in ("rankme", "effective_rank", "alpha", "twonn"):
        expected, _ = directed_by_hand(x[COLUMN[b]].to_numpy(), y.to_numpy(), folds)
        np.testing.assert_array_equal(pred[f"directed_{b}"].to_numpy(), expected, err_msg=b)


def test_every_column_holding_out_whole_groups():
    x, y, reference = data(seed=1)
    groups = pd.Series(GROUPS, index=x.index)
    folds = [np.flatnonzero(GROUPS == g) for g in pd.unique(GROUPS)]
    ev = TransferPredictor(alpha_grid=ALPHAS).evaluate(
        x, y, groups=groups, reference=reference, n_bootstrap=40, n_permutations=0,
        seed=2)  # fmt: skip
    row = ev.table.loc["task"]
    predictors = reference_predictions(x, y, reference, folds, GROUPS)
    check_table(row, y, predictors, bootstrap_draws(2, len(y), GROUPS, 40), GROUPS)
    yv = y.to_numpy()
    null = np.concatenate([np.full(f.size, np.delete(yv, f).mean()) for f in folds])
    assert row["null_r2"] == pytest.approx(1 - ((yv - null) ** 2).sum()
                                           / ((yv - yv.mean()) ** 2).sum())  # fmt: skip
    assert row["n_groups"] == 5 and row["n_models"] == 12 and row["n_features"] == 8


def test_hold_out_model_with_groups_keeps_the_groups_for_the_rest():
    x, y, _ = data(seed=1)
    groups = pd.Series(GROUPS, index=x.index)
    ev = TransferPredictor(alpha_grid=ALPHAS).evaluate(
        x, y, groups=groups, hold_out="model", n_bootstrap=40, n_permutations=0, seed=3
    )
    # one model at a time, inner leave-one-out: the predictions of an evaluation without groups
    plain = TransferPredictor(alpha_grid=ALPHAS).evaluate(x, y, n_bootstrap=0, n_permutations=0)
    np.testing.assert_array_equal(ev.predictions["predicted"], plain.predictions["predicted"])
    expected = held_out(x.to_numpy(), y.to_numpy(), leave_one_out(len(y)), ALPHAS)
    np.testing.assert_allclose(ev.predictions["predicted"], expected, rtol=1e-9)
    # ... while the bootstrap resamples whole groups and the within-group rho is reported
    row = ev.table.loc["task"]
    check_table(row, y, {"": (expected, expected)}, bootstrap_draws(3, len(y), GROUPS, 40), GROUPS)
    assert any("leave one model out" in n for n in ev.notes)


def test_bootstrap_groups_false_and_a_mapping():
    x, y, _ = data(seed=2)
    groups = pd.Series(GROUPS, index=x.index)
    other = np.array(["a", "b"] * 6)  # another grouping, only for the resamples
    est = TransferPredictor(alpha_grid=ALPHAS)
    kwargs = dict(groups=groups, n_bootstrap=40, n_permutations=0, seed=4)
    by_model = est.evaluate(x, y, bootstrap_groups=False, **kwargs)
    by_other = est.evaluate(x, y, bootstrap_groups=dict(zip(x.index, other, strict=True)),
                            **kwargs)  # fmt: skip
    predicted = by_model.predictions["predicted"].to_numpy()
    np.testing.assert_array_equal(predicted, by_other.predictions["predicted"])
    yv = y.to_numpy()
    for ev, draws in ((by_model, bootstrap_draws(4, 12, None, 40)),
                      (by_other, bootstrap_draws(4, 12, other, 40))):  # fmt: skip
        low, high = interval(rho_over(yv, predicted, draws))
        assert ev.table.loc["task", "spearman_low"] == pytest.approx(low, rel=1e-9)
        assert ev.table.loc["task", "spearman_high"] == pytest.approx(high, rel=1e-9)
    assert any("2 groups (whole groups)" in n for n in by_other.notes)
    assert any("40 resamples of 12 models" in n for n in by_model.notes)


def test_p_values_against_their_own_nulls():
    x, y, _ = data(seed=3)
    groups = pd.Series(GROUPS, index=x.index)
    scores = pd.DataFrame({"task": y, "other": -y + np.random.default_rng(9).normal(size=12)})
    ev = TransferPredictor(alpha_grid=ALPHAS).evaluate(
        x, scores, groups=groups, n_bootstrap=0, n_permutations=6, seed=8)  # fmt: skip
    folds = [np.flatnonzero(GROUPS == g) for g in pd.unique(GROUPS)]
    across, inside = np.random.default_rng(8).spawn(3)[1:]
    xv = x.to_numpy()
    for task in ("task", "other"):  # the streams run on from one task to the next
        yv = scores[task].to_numpy()
        null, null_within = [], []
        for _ in range(6):
            yp = yv[across.permutation(12)]
            null.append(spearmanr(yp, held_out(xv, yp, folds, ALPHAS, GROUPS)).statistic)
        for _ in range(6):
            yp = yv.copy()
            for g in pd.unique(GROUPS):
                idx = np.flatnonzero(GROUPS == g)
                yp[idx] = yv[idx[inside.permutation(idx.size)]]
            ra, rs, keep = within_by_hand(yp, held_out(xv, yp, folds, ALPHAS, GROUPS), GROUPS)
            null_within.append(spearmanr(ra[keep], rs[keep]).statistic)
        np.testing.assert_allclose(ev.null_spearman[task], null, rtol=1e-9)
        np.testing.assert_allclose(ev.null_within[task], null_within, rtol=1e-9)
        row = ev.table.loc[task]
        assert row["p_value"] == (1 + sum(v >= row["spearman"] for v in null)) / 7
        assert row["within_p_value"] == (
            1 + sum(v >= row["within_spearman"] for v in null_within)) / 7  # fmt: skip


def test_p_value_counts_ties_and_the_observed_statistic():
    # perfectly ranked by one metric: no shuffle beats rho = 1, ties with it count as reached
    rng = np.random.default_rng(4)
    x = pd.DataFrame({"semantic/a": np.arange(8.0), "semantic/b": rng.normal(size=8)},
                     index=[f"m{i}" for i in range(8)])  # fmt: skip
    y = pd.Series(np.arange(8.0) * 2 + 1, index=x.index, name="task")
    ev = TransferPredictor().evaluate(x, y, n_bootstrap=0, n_permutations=9, seed=0)
    null, rho = ev.null_spearman["task"], ev.table.loc["task", "spearman"]
    assert rho == pytest.approx(1.0)
    assert ev.table.loc["task", "p_value"] == pytest.approx((1 + (null >= rho).sum()) / 10)
    assert ev.table.loc["task", "p_value"] >= 0.1


def test_controls_in_every_predictions_column():
    x, y, reference = data(seed=5, n=14)
    controls = ["m12", "m13"]
    groups = pd.Series(np.concatenate([GROUPS, ["c", "c"]]), index=x.index)
    est = TransferPredictor(alpha_grid=ALPHAS, max_features=3)
    ev = est.evaluate(x, y, groups=groups, controls=controls, reference=reference,
                      n_bootstrap=0, n_permutations=0)  # fmt: skip
    rows = ev.predictions[ev.predictions["control"]].set_index("model")
    assert rows.index.tolist() == controls
    train = [m for m in x.index if m not in controls]
    xt, yt, xc = x.loc[train], y.loc[train].to_numpy(), x.loc[controls]
    inner = leave_one_out(len(train), GROUPS)  # the evaluated models' groups, kept whole

    def fit(m_train, m_new, max_features=None):
        return fit_predict(m_train, yt, m_new, ALPHAS, inner, max_features)

    def lidar(frame):
        return ((frame["crop/lidar"] + frame["color/lidar"]) / 2).to_numpy()

    expected = {"predicted": fit(xt.to_numpy(), xc.to_numpy(), 3), "mean": np.full(2, yt.mean())}
    for b in ("rankme", "effective_rank", "alpha", "twonn", "lidar"):
        m_train = lidar(xt) if b == "lidar" else xt[COLUMN[b]].to_numpy()
        m_new = lidar(xc) if b == "lidar" else xc[COLUMN[b]].to_numpy()
        expected[b] = {"alpha": -np.abs(m_new - 1), "twonn": -m_new}.get(b, m_new)
        expected[f"directed_{b}"] = fit(m_train[:, None], m_new[:, None])
    spectral = lambda f: np.column_stack([f[COLUMN[b]] for b in COLUMN] + [lidar(f)])  # noqa: E731
    expected["spectral"] = fit(spectral(xt), spectral(xc))
    rt, rc = reference.loc[train].astype(float), reference.loc[controls].astype(float)
    expected["reference"] = fit(rt.to_numpy(), rc.to_numpy())
    expected["combined"] = fit(np.column_stack([xt, rt]), np.column_stack([xc, rc]), 3)
    columns = [c for c in ev.predictions.columns
               if c not in ("task", "model", "control", "group", "actual")]  # fmt: skip
    assert set(columns) == set(expected)
    for column in columns:
        np.testing.assert_allclose(rows[column].to_numpy(), expected[column], rtol=1e-9,
                                   err_msg=column)  # fmt: skip
    np.testing.assert_array_equal(rows["actual"], y.loc[controls])
    # the controls take no part in any statistic
    alone = est.evaluate(
        x.loc[train],
        y.loc[train],
        groups=groups.loc[train],
        reference=reference.loc[train],
        n_bootstrap=0,
        n_permutations=0,
    )
    pd.testing.assert_frame_equal(ev.table, alone.table)


def test_table_columns_are_the_documented_ones():
    x, y, reference = data(seed=0)
    ev = TransferPredictor(alpha_grid=ALPHAS).evaluate(
        x, y, reference=reference, n_bootstrap=10, n_permutations=0
    )
    within = ("within_spearman", "within_spearman_low", "within_spearman_high")
    expected = ["n_models", "n_features", "n_groups", *AGREEMENT, *within, "null_r2"]
    for prefix in ev.baselines:
        expected += [f"{prefix}_{k}" for k in (*AGREEMENT, *within)]
    expected += ["gain_spearman", "gain_spearman_low", "gain_spearman_high", "p_value",
                 "within_p_value"]  # fmt: skip
    assert list(ev.table.columns) == expected
    assert ev.label_free == list(LABEL_FREE)


# -- options at non-default values ---------------------------------------------------------------
def kfold_tests(n, k):
    from sklearn.model_selection import KFold

    return [test for _, test in KFold(k).split(np.zeros((n, 1)))]


def test_max_features_and_cv_run_inside_every_fold():
    x, y, reference = data(seed=6, n=15)
    xv, yv = x.to_numpy(), y.to_numpy()
    ev = TransferPredictor(alpha_grid=ALPHAS, max_features=2, cv=3).evaluate(
        x, y, reference=reference, n_bootstrap=0, n_permutations=0)  # fmt: skip
    pred = ev.predictions.set_index("model")
    expected = np.empty(15)
    for i in range(15):
        train = np.delete(np.arange(15), i)
        expected[i] = fit_predict(xv[train], yv[train], xv[[i]], ALPHAS, kfold_tests(14, 3), 2)[0]
    np.testing.assert_allclose(pred["predicted"], expected, rtol=1e-9)
    # the screening is the profile's (and combined's); a one-metric ridge is never screened
    both = np.column_stack([xv, reference.astype(float).to_numpy()])
    combined = np.empty(15)
    for i in range(15):
        train = np.delete(np.arange(15), i)
        combined[i] = fit_predict(both[train], yv[train], both[[i]], ALPHAS,
                                  kfold_tests(14, 3), 2)[0]  # fmt: skip
    np.testing.assert_allclose(pred["combined"], combined, rtol=1e-9)
    # without screening or k-fold the answer differs (the options are not ignored)
    loo = held_out(xv, yv, leave_one_out(15), ALPHAS)
    assert not np.allclose(loo, expected)
    assert not np.allclose(held_out(xv, yv, leave_one_out(15), ALPHAS, max_features=2), expected)


def test_integer_cv_with_groups_keeps_groups_whole_inside():
    from sklearn.model_selection import GroupKFold

    x, y, _ = data(seed=7)
    groups = pd.Series(GROUPS, index=x.index)
    ev = TransferPredictor(alpha_grid=ALPHAS, cv=3).evaluate(x, y, groups=groups, n_bootstrap=0,
                                                             n_permutations=0)  # fmt: skip
    xv, yv = x.to_numpy(), y.to_numpy()
    expected = np.empty(12)
    for g in pd.unique(GROUPS):
        test = np.flatnonzero(GROUPS == g)
        train = np.setdiff1d(np.arange(12), test)
        inner = [t for _, t in GroupKFold(3).split(xv[train], groups=GROUPS[train])]
        expected[test] = fit_predict(xv[train], yv[train], xv[test], ALPHAS, inner)
    np.testing.assert_allclose(ev.predictions["predicted"], expected, rtol=1e-9)


def test_a_repeated_splitter_counts_every_repetition():
    from sklearn.model_selection import RepeatedKFold

    from manifold.zoo.transfer import DEFAULT_ALPHAS

    x, y, _ = data(seed=7, n=15)
    cv = RepeatedKFold(n_splits=3, n_repeats=4, random_state=7)
    est = TransferPredictor(cv=cv).fit(x, y)
    xs, _, _ = standardise(x.to_numpy())
    ys = (y.to_numpy() - y.mean()) / y.std(ddof=0)
    errors = []
    for alpha in DEFAULT_ALPHAS:  # the mean over every held-out prediction of every split
        squared = []
        for train, test in cv.split(xs):
            coef, b = ridge_solve(xs[train], ys[train], alpha)
            squared.extend((ys[test] - b - xs[test] @ coef) ** 2)
        errors.append(np.mean(squared))
    assert est.alpha_["task"] == DEFAULT_ALPHAS[int(np.argmin(errors))]
    # the last repetition alone would choose another penalty here
    last = list(cv.split(xs))[-3:]
    alone = [np.mean(np.concatenate([(ys[te] - ridge_solve(xs[tr], ys[tr], a)[1]
                                      - xs[te] @ ridge_solve(xs[tr], ys[tr], a)[0]) ** 2
                                     for tr, te in last])) for a in DEFAULT_ALPHAS]  # fmt: skip
    assert np.argmin(alone) != np.argmin(errors)


def test_features_restrict_the_profile_not_the_baselines():
    x, y, _ = data(seed=8)
    columns = ["semantic/m0", "semantic/m1"]
    ev = TransferPredictor(alpha_grid=ALPHAS, features=columns).evaluate(
        x, y, n_bootstrap=0, n_permutations=0)  # fmt: skip
    expected = held_out(x[columns].to_numpy(), y.to_numpy(), leave_one_out(12), ALPHAS)
    np.testing.assert_allclose(ev.predictions["predicted"], expected, rtol=1e-9)
    assert ev.table.loc["task", "n_features"] == 2
    np.testing.assert_array_equal(ev.predictions["rankme"], x["semantic/rankme"])
    est = TransferPredictor(features=columns).fit(x, y)
    assert list(est.feature_names_in_) == columns


def per_point_profile(x, median_shift):
    """A Profile whose per-point metrics have a mean and a median that differ."""
    from manifold.results import COLUMNS, Profile

    rows = []
    for model, values in x.iterrows():
        for column, v in values.items():
            manifold_name, metric = column.split("/", 1)
            if metric in ("rankme", "effective_rank", "alpha", "twonn_dimension", "lidar"):
                rows.append([model, manifold_name, metric, "value", v])
            else:
                rows.append([model, manifold_name, metric, "mean", v])
                rows.append([model, manifold_name, metric, "median", median_shift[model] * v])
    return Profile(pd.DataFrame(rows, columns=COLUMNS))


def test_statistic_picks_the_per_point_summary():
    x, y, _ = data(seed=9)
    shift = dict(zip(x.index, np.random.default_rng(0).uniform(-1, 2, 12), strict=True))
    prof = per_point_profile(x, shift)
    medians = x.copy()
    for column in ("semantic/m0", "semantic/m1"):
        medians[column] = x[column] * pd.Series(shift)
    est = TransferPredictor(alpha_grid=ALPHAS, statistic="median")
    fitted = est.fit(prof, y)
    direct = TransferPredictor(alpha_grid=ALPHAS).fit(medians, y)
    pd.testing.assert_frame_equal(fitted.coef_, direct.coef_.loc[:, fitted.coef_.columns])
    pd.testing.assert_frame_equal(est.predict(prof), direct.predict(medians).loc[y.index])
    ev = est.evaluate(prof, y, n_bootstrap=0, n_permutations=0)
    expected = held_out(medians[list(fitted.feature_names_in_)].to_numpy(), y.to_numpy(),
                        leave_one_out(12), ALPHAS)  # fmt: skip
    np.testing.assert_allclose(ev.predictions["predicted"], expected, rtol=1e-9)
    mean_fit = TransferPredictor(alpha_grid=ALPHAS).fit(prof, y)
    assert not np.allclose(mean_fit.coef_.to_numpy(), fitted.coef_.to_numpy())


def test_drivers_against_a_loop_of_fits_without_each_model():
    x, y, _ = data(seed=10)
    est = TransferPredictor(alpha_grid=ALPHAS, max_features=3)
    drivers = est.drivers(x, y).set_index("metric")
    full = TransferPredictor(alpha_grid=ALPHAS, max_features=3).fit(x, y).coef_.loc["task"]
    folds = np.array([TransferPredictor(alpha_grid=ALPHAS, max_features=3)
                      .fit(x.drop(index=m), y.drop(index=m)).coef_.loc["task"].to_numpy()
                      for m in x.index])  # fmt: skip
    for j, metric in enumerate(x.columns):
        got = drivers.loc[metric]
        assert got["coef"] == pytest.approx(full[metric], abs=1e-12)
        assert got["fold_mean"] == pytest.approx(folds[:, j].mean(), abs=1e-12)
        assert got["fold_std"] == pytest.approx(folds[:, j].std(), abs=1e-12)
        agree = np.mean(np.sign(folds[:, j]) == np.sign(full[metric])) if full[metric] else 0.0
        assert got["sign_agreement"] == pytest.approx(agree)
        assert got["selected_fraction"] == pytest.approx(np.mean(folds[:, j] != 0))
    # sorted by |coef|, largest first; the screening varied between folds
    assert list(drivers.index[:3]) == list(full.abs().sort_values(ascending=False).index[:3])
    assert ((drivers["selected_fraction"] > 0) & (drivers["selected_fraction"] < 1)).any()


def test_metric_correlation_intervals_against_a_direct_loop():
    from manifold.zoo import metric_correlations

    x, y, _ = data(seed=11, n=15)
    x["semantic/step"] = np.repeat([0.0, 1.0, 2.0], 5)  # constant in some resamples
    scores = pd.DataFrame({"task": y, "other": x["semantic/m1"] ** 2})
    got = metric_correlations(x, scores, n_bootstrap=60, seed=3, confidence=0.8)
    idx = np.random.default_rng(3).integers(0, 15, size=(60, 15))
    for _, row in got.iterrows():
        a, b = x[row["metric"]].to_numpy(), scores[row["task"]].to_numpy()
        assert row["rho"] == pytest.approx(spearmanr(a, b).statistic)
        reps = rho_over(a, b, idx)
        reps = reps[np.isfinite(reps)]
        assert row["low"] == pytest.approx(np.percentile(reps, 10), rel=1e-9)
        assert row["high"] == pytest.approx(np.percentile(reps, 90), rel=1e-9)
        assert row["significant"] == (row["low"] > 0 or row["high"] < 0)
    assert got["significant"].any() and not got["significant"].all()
    assert len(got) == 2 * x.shape[1]


def test_metric_correlations_statistic():
    from manifold.zoo import metric_correlations

    x, y, _ = data(seed=12)
    shift = dict(zip(x.index, np.random.default_rng(1).uniform(-1, 2, 12), strict=True))
    prof = per_point_profile(x, shift)
    got = metric_correlations(prof, y, statistic="median")["task"]
    expected = spearmanr(x["semantic/m0"] * pd.Series(shift), y).statistic
    assert got["semantic/m0"] == pytest.approx(expected)
    assert got["semantic/m0"] != pytest.approx(spearmanr(x["semantic/m0"], y).statistic)


def test_a_group_splitter_as_cv_receives_the_groups():
    from sklearn.model_selection import LeaveOneGroupOut

    x, y, _ = data(seed=13)
    groups = pd.Series(GROUPS, index=x.index)
    kwargs = dict(groups=groups, n_bootstrap=0, n_permutations=0)
    split = TransferPredictor(alpha_grid=ALPHAS, cv=LeaveOneGroupOut()).evaluate(x, y, **kwargs)
    closed = TransferPredictor(alpha_grid=ALPHAS).evaluate(x, y, **kwargs)
    np.testing.assert_allclose(split.predictions["predicted"], closed.predictions["predicted"],
                               rtol=1e-9)  # fmt: skip
    folds = [np.flatnonzero(GROUPS == g) for g in pd.unique(GROUPS)]
    expected = held_out(x.to_numpy(), y.to_numpy(), folds, ALPHAS, GROUPS)
    np.testing.assert_allclose(split.predictions["predicted"], expected, rtol=1e-9)


def test_permutations_that_tie_with_the_observed_statistic_count_as_reached():
    # a shuffle that happens to be the identity reproduces the observed statistic exactly: with
    # 4 models one shuffle in 24 is, with 3 groups of 2 one within-group shuffle in 8
    rng = np.random.default_rng(2)
    x = pd.DataFrame(rng.normal(size=(4, 2)), columns=["semantic/a", "semantic/b"],
                     index=[f"m{i}" for i in range(4)])  # fmt: skip
    y = (x["semantic/a"] + 0.3 * rng.normal(size=4)).rename("task")
    ev = TransferPredictor(alpha_grid=ALPHAS).evaluate(x, y, n_bootstrap=0, n_permutations=40)
    null, rho = ev.null_spearman["task"], ev.table.loc["task", "spearman"]
    assert (null == rho).any()
    assert ev.table.loc["task", "p_value"] == (1 + (null >= rho).sum()) / 41
    x6 = pd.DataFrame(rng.normal(size=(6, 2)), columns=["semantic/a", "semantic/b"],
                      index=[f"m{i}" for i in range(6)])  # fmt: skip
    y6 = (x6["semantic/a"] + 0.3 * rng.normal(size=6)).rename("task")
    groups = pd.Series(["g0", "g0", "g1", "g1", "g2", "g2"], index=x6.index)
    ev = TransferPredictor(alpha_grid=ALPHAS).evaluate(x6, y6, groups=groups, n_bootstrap=0,
                                                       n_permutations=24)  # fmt: skip
    null, rho = ev.null_within["task"], ev.table.loc["task", "within_spearman"]
    assert (null == rho).any()
    assert ev.table.loc["task", "within_p_value"] == (1 + (null >= rho).sum()) / 25


def group_identity_data(seed=0):
    """5 groups of 3 whose metrics name the group and whose scores are a group effect.

    Leaving one model out, its group-mates stay in training and a small penalty looks best;
    keeping groups whole, a large one does: the inner folds change the penalty chosen.
    """
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"g{i}" for i in range(5)], 3)
    codes = pd.factorize(groups)[0]
    identity = rng.normal(size=(5, 4))[codes] + 0.05 * rng.normal(size=(15, 4))
    x = pd.DataFrame(np.column_stack([identity, rng.normal(size=(15, 2))]),
                     index=[f"m{i:02d}" for i in range(15)],
                     columns=[f"semantic/m{j}" for j in range(6)])  # fmt: skip
    y = pd.Series(rng.normal(size=5)[codes] + 0.3 * rng.normal(size=15), index=x.index,
                  name="task")  # fmt: skip
    return x, y, groups


def test_the_inner_folds_follow_hold_out_and_serve_the_controls():
    x, y, groups = group_identity_data()
    xv, yv = x.to_numpy(), y.to_numpy()
    by_model = leave_one_out(15)
    inner_loo = held_out(xv, yv, by_model, ALPHAS)
    inner_groups = held_out(xv, yv, by_model, ALPHAS, groups)
    assert np.abs(inner_loo - inner_groups).max() > 0.1  # the case discriminates
    # hold_out="model": one model out, and the penalty by leaving one model out inside too
    ev = TransferPredictor(alpha_grid=ALPHAS).evaluate(
        x, y, groups=pd.Series(groups, index=x.index), hold_out="model", n_bootstrap=0,
        n_permutations=0)  # fmt: skip
    np.testing.assert_allclose(ev.predictions["predicted"], inner_loo, rtol=1e-9)
    # controls of a grouped evaluation: fitted on every evaluated model, the penalty chosen by
    # folds that keep the evaluated models' groups whole
    rng = np.random.default_rng(1)
    new = pd.DataFrame(rng.normal(size=(2, 6)), index=["z0", "z1"], columns=x.columns)
    both = pd.concat([x, new])
    scores = pd.concat([y, pd.Series([0.0, 1.0], index=new.index)]).rename("task")
    labels = pd.Series(np.concatenate([groups, ["c", "c"]]), index=both.index)
    ev = TransferPredictor(alpha_grid=ALPHAS).evaluate(
        both, scores, groups=labels, controls=["z0", "z1"], n_bootstrap=0,
        n_permutations=0)  # fmt: skip
    got = ev.predictions.set_index("model").loc[["z0", "z1"], "predicted"].to_numpy()
    whole = fit_predict(xv, yv, new.to_numpy(), ALPHAS, leave_one_out(15, groups))
    one_by_one = fit_predict(xv, yv, new.to_numpy(), ALPHAS, leave_one_out(15))
    np.testing.assert_allclose(got, whole, rtol=1e-9)
    assert np.abs(whole - one_by_one).max() > 0.05
