"""Grouped evaluation of transfer prediction, checked against independent computations.

Models come in groups (recipes, runs); these tests plant a group effect and a within-group
signal and check the cluster bootstrap, the grouped inner CV, the reference/combined/gain
columns, the within-group statistics and the label-free baselines against direct loops written
here with scipy and scikit-learn.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import Ridge

from manifold.zoo import TransferPredictor
from manifold.zoo._evaluation import (
    encode_reference,
    percentile_interval,
    permute_within,
    resample_indices,
    spearman_over,
    within_residuals,
)

N_GROUPS, SIZE = 8, 5


def planted(within_signal: float, seed: int = 0):
    """8 groups of 5 models. The score = a group effect (+ a within-group signal).

    Metrics: two that carry the group effect (with noise), one within-group metric ``w`` that
    varies inside groups, and noise. The reference is what is known of each group without
    geometry: a group-level property that drives the group effect (constant within a group, so
    it generalises to a held-out group, unlike the group's name).
    """
    rng = np.random.default_rng(seed)
    models = [f"m{i:02d}" for i in range(N_GROUPS * SIZE)]
    group = np.repeat([f"g{g}" for g in range(N_GROUPS)], SIZE)
    known = np.repeat(rng.normal(size=N_GROUPS), SIZE)
    effect = np.repeat(rng.normal(scale=0.5, size=N_GROUPS), SIZE) + 3.0 * known
    w = rng.normal(size=len(models))
    x = pd.DataFrame({
        "semantic/a": effect + 0.1 * rng.normal(size=len(models)),
        "semantic/b": -effect + 0.1 * rng.normal(size=len(models)),
        "semantic/w": w,
        "semantic/noise": rng.normal(size=len(models)),
        "semantic/rankme": rng.normal(size=len(models)) + 10,
        "semantic/alpha": rng.normal(size=len(models)) + 1,
    }, index=models)  # fmt: skip
    y = pd.Series(effect + within_signal * w + 0.3 * rng.normal(size=len(models)), index=models,
                  name="task")  # fmt: skip
    groups = pd.Series(group, index=models)
    reference = pd.DataFrame({"known": known}, index=models)
    return x, y, groups, reference


def _rows(within_signal: float, seeds=range(6)) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        x, y, groups, reference = planted(within_signal, seed=seed)
        ev = TransferPredictor().evaluate(x, y, groups=groups, reference=reference,
                                          n_bootstrap=100, n_permutations=0, seed=1)  # fmt: skip
        rows.append(ev.table.loc["task"])
    return pd.DataFrame(rows)


def test_group_effect_alone_gives_no_gain_and_no_within_rank():
    rows = _rows(within_signal=0.0)
    # pooled: the group effect makes both the profile and the reference rank well
    assert (rows["spearman"] > 0.8).all() and (rows["reference_spearman"] > 0.8).all()
    # but the geometry adds nothing: the gain is about 0 and never shown to be positive, and
    # the within-group rho scatters around 0 (its sd over 40 models is about 0.16)
    assert rows["gain_spearman"].abs().max() < 0.05
    assert (rows["gain_spearman_low"] <= 0).all()
    assert abs(rows["within_spearman"].mean()) < 0.15


def test_within_group_signal_gives_a_gain_and_a_within_rank():
    rows = _rows(within_signal=1.5)
    assert (rows["gain_spearman"] > 0.05).all() and (rows["gain_spearman_low"] > 0).all()
    assert (rows["within_spearman"] > 0.6).all()
    # the reference is constant within a group: it has no within-group ranking at all
    assert rows["reference_within_spearman"].isna().all()


def test_within_p_value_separates_signal_from_none():
    x, y, groups, reference = planted(within_signal=1.5, seed=0)
    kwargs = dict(groups=groups, n_bootstrap=0, n_permutations=49, seed=1)
    signal = TransferPredictor().evaluate(x, y, **kwargs).table.loc["task"]
    assert signal["within_p_value"] == pytest.approx(1 / 50)  # no shuffle inside groups reaches it
    x, y, groups, reference = planted(within_signal=0.0, seed=1)
    kwargs["groups"] = groups
    none = TransferPredictor().evaluate(x, y, **kwargs).table.loc["task"]
    assert none["within_p_value"] > 0.05 and none["p_value"] == pytest.approx(1 / 50)


def test_within_spearman_equals_a_direct_computation():
    x, y, groups, _ = planted(within_signal=0.8, seed=3)
    ev = TransferPredictor().evaluate(x, y, groups=groups, n_bootstrap=0, n_permutations=0)
    pred = ev.predictions.set_index("model")
    frame = pd.DataFrame({"y": y, "p": pred["predicted"], "g": groups})
    res = frame[["y", "p"]] - frame.groupby("g")[["y", "p"]].transform("mean")
    expected = spearmanr(res["y"], res["p"]).statistic
    assert ev.table.loc["task", "within_spearman"] == pytest.approx(expected, abs=1e-12)
    # and for a label-free baseline, whose score is the metric itself
    res_b = frame.assign(b=x["semantic/rankme"])
    res_b = res_b[["y", "b"]] - res_b.groupby("g")[["y", "b"]].transform("mean")
    assert ev.table.loc["task", "rankme_within_spearman"] == pytest.approx(
        spearmanr(res_b["y"], res_b["b"]).statistic, abs=1e-12)  # fmt: skip


def test_within_p_value_against_its_own_null():
    x, y, groups, _ = planted(within_signal=0.2, seed=4)
    ev = TransferPredictor().evaluate(x, y, groups=groups, n_bootstrap=0, n_permutations=39)
    null = ev.null_within["task"]
    rho = ev.table.loc["task", "within_spearman"]
    assert null.size == 39
    assert ev.table.loc["task", "within_p_value"] == (1 + int((null >= rho).sum())) / 40


def test_permute_within_keeps_each_groups_values():
    rng = np.random.default_rng(0)
    y = np.arange(12.0)
    groups = np.array(list("aaabbbbcccdd"))
    out = permute_within(y, groups, rng)
    for g in "abcd":
        assert sorted(out[groups == g]) == sorted(y[groups == g])
    assert not np.array_equal(out, y)


def test_cluster_bootstrap_draws_whole_groups():
    groups = np.array(list("aabbbccccd"))
    rng = np.random.default_rng(0)
    for idx in resample_indices(10, groups, 50, rng):
        drawn = pd.Series(groups[idx]).value_counts()
        sizes = pd.Series(groups).value_counts()
        # each drawn group appears with all its members, a whole number of times
        assert all(drawn[g] % sizes[g] == 0 for g in drawn.index)
        assert sum(drawn[g] // sizes[g] for g in drawn.index) == 4  # as many draws as groups


def test_intervals_and_gain_come_from_the_same_cluster_resamples():
    x, y, groups, reference = planted(within_signal=1.0, seed=5)
    ev = TransferPredictor().evaluate(x, y, groups=groups, reference=reference,
                                      n_bootstrap=200, n_permutations=0, seed=7)  # fmt: skip
    # the bootstrap stream is the first of three spawned from the seed
    boot_rng = np.random.default_rng(7).spawn(3)[0]
    pred = ev.predictions.set_index("model").loc[sorted(y.index)]
    yv, g = y.loc[pred.index].to_numpy(), groups.loc[pred.index].to_numpy()
    idx = resample_indices(len(yv), g, 200, boot_rng)
    direct = {}
    for name in ("predicted", "reference", "combined"):
        direct[name] = np.array([spearmanr(yv[i], pred[name].to_numpy()[i]).statistic
                                 for i in idx])  # fmt: skip
    row = ev.table.loc["task"]
    assert (row["spearman_low"], row["spearman_high"]) == pytest.approx(
        percentile_interval(direct["predicted"]))  # fmt: skip
    assert (row["gain_spearman_low"], row["gain_spearman_high"]) == pytest.approx(
        percentile_interval(direct["combined"] - direct["reference"]))  # fmt: skip
    # resampling models instead gives other (narrower here) intervals, from other resamples
    by_model = TransferPredictor().evaluate(x, y, groups=groups, reference=reference,
                                            bootstrap_groups=False, n_bootstrap=200,
                                            n_permutations=0, seed=7).table.loc["task"]  # fmt: skip
    assert by_model["spearman"] == row["spearman"]
    assert (by_model["spearman_low"], by_model["spearman_high"]) != (
        row["spearman_low"], row["spearman_high"])  # fmt: skip


def test_intervals_do_not_change_with_the_number_of_permutations():
    x, y, groups, _ = planted(within_signal=1.0, seed=6)
    a = TransferPredictor().evaluate(x, y, groups=groups, n_bootstrap=100, n_permutations=0)
    b = TransferPredictor().evaluate(x, y, groups=groups, n_bootstrap=100, n_permutations=9)
    cols = ["spearman_low", "spearman_high", "within_spearman_low", "within_spearman_high"]
    pd.testing.assert_frame_equal(a.table[cols], b.table[cols])


def test_reference_alone_is_a_ridge_on_the_encoded_reference():
    x, y, groups, _ = planted(within_signal=0.5, seed=8)
    ref = pd.DataFrame({"size": np.tile(np.arange(SIZE), N_GROUPS).astype(float)},
                       index=y.index)  # fmt: skip
    ev = TransferPredictor(alpha_grid=[1.0]).evaluate(
        x, y, reference=ref, hold_out="model", n_bootstrap=0, n_permutations=0)  # fmt: skip
    # with one penalty, the held-out prediction is scikit-learn's Ridge on z-scored data
    pred = ev.predictions.set_index("model")["reference"]
    xv, yv = ref.to_numpy(), y.to_numpy()
    for i in (0, 13, 39):
        keep = np.arange(len(yv)) != i
        xm, xs = xv[keep].mean(axis=0), xv[keep].std(axis=0)
        ym, ys = yv[keep].mean(), yv[keep].std()
        fit = Ridge(alpha=1.0).fit((xv[keep] - xm) / xs, (yv[keep] - ym) / ys)
        expected = ym + ys * fit.predict((xv[i : i + 1] - xm) / xs)[0]
        assert pred.iloc[i] == pytest.approx(expected, rel=1e-10)


def test_grouped_evaluation_chooses_the_penalty_without_the_held_out_groups_mates():
    x, y, groups, _ = planted(within_signal=1.0, seed=9)
    ev = TransferPredictor().evaluate(x, y, groups=groups, n_bootstrap=0, n_permutations=0)
    # a direct leave-one-group-out with scikit-learn's RidgeCV and LeaveOneGroupOut inside
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import LeaveOneGroupOut

    from manifold.zoo.transfer import DEFAULT_ALPHAS

    order = sorted(y.index)
    xv, yv, g = x.loc[order].to_numpy(), y.loc[order].to_numpy(), groups.loc[order].to_numpy()
    expected = np.empty(len(yv))
    for train, test in LeaveOneGroupOut().split(xv, groups=g):
        xm, xs = xv[train].mean(axis=0), xv[train].std(axis=0)
        ym, ys = yv[train].mean(), yv[train].std()
        inner = list(LeaveOneGroupOut().split(xv[train], groups=g[train]))
        fit = RidgeCV(alphas=np.array(DEFAULT_ALPHAS), cv=inner,
                      scoring="neg_mean_squared_error")  # fmt: skip
        fit.fit((xv[train] - xm) / xs, (yv[train] - ym) / ys)
        expected[test] = ym + ys * fit.predict((xv[test] - xm) / xs)
    got = ev.predictions.set_index("model").loc[order, "predicted"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_label_free_baselines_follow_their_papers_direction():
    x, y, groups, _ = planted(within_signal=0.0, seed=10)
    x["semantic/effective_rank"] = x["semantic/rankme"] * 0.9
    x["semantic/twonn_dimension"] = np.abs(x["semantic/noise"]) + 2
    ev = TransferPredictor().evaluate(x, y, n_bootstrap=0, n_permutations=0)
    row, pred = ev.table.loc["task"], ev.predictions.set_index("model")
    assert row["rankme_spearman"] == pytest.approx(spearmanr(y, x["semantic/rankme"]).statistic)
    assert row["alpha_spearman"] == pytest.approx(
        spearmanr(y, -np.abs(x["semantic/alpha"] - 1)).statistic)  # fmt: skip
    assert row["twonn_spearman"] == pytest.approx(
        -spearmanr(y, x["semantic/twonn_dimension"]).statistic)  # fmt: skip
    np.testing.assert_allclose(pred["twonn"], -x["semantic/twonn_dimension"].loc[pred.index])
    assert np.isnan(row["rankme_r2"]) and np.isfinite(row["directed_rankme_r2"])
    # the label-free sign never changes; the directed one follows the training folds
    flipped = TransferPredictor().evaluate(x, -y, n_bootstrap=0, n_permutations=0).table
    assert flipped.loc["task", "rankme_spearman"] == pytest.approx(-row["rankme_spearman"])
    assert flipped.loc["task", "directed_rankme_spearman"] == pytest.approx(
        row["directed_rankme_spearman"], abs=0.05)  # fmt: skip


def test_spectral_ridge_uses_the_baseline_metrics_together():
    x, y, _, _ = planted(within_signal=0.0, seed=11)
    y = (x["semantic/rankme"] - 2 * x["semantic/alpha"]).rename("task")
    ev = TransferPredictor().evaluate(x, y, n_bootstrap=0, n_permutations=0)
    row = ev.table.loc["task"]
    assert row["spectral_r2"] > 0.99
    assert row["spectral_spearman"] > max(row["directed_rankme_spearman"],
                                          row["directed_alpha_spearman"]) + 0.1  # fmt: skip


def test_encode_reference_and_its_errors():
    ref = pd.DataFrame({"method": ["a", "b", "a"], "lr": [0.1, 0.2, 0.3], "crop": [True, False,
                        True]}, index=["x", "y", "z"])  # fmt: skip
    enc = encode_reference(ref, ["z", "x"])
    # one indicator per level among the models asked for
    assert list(enc.columns) == ["method=a", "lr", "crop"]
    np.testing.assert_array_equal(enc.to_numpy(), [[1, 0.3, 1], [1, 0.1, 1]])
    assert list(encode_reference(ref, ["x", "y"]).columns) == ["method=a", "method=b", "lr", "crop"]
    with pytest.raises(ValueError, match="no row for models"):
        encode_reference(ref, ["x", "w"])
    with pytest.raises(ValueError, match="missing values"):
        encode_reference(ref.assign(lr=[0.1, None, 0.3]), ["x", "y"])
    with pytest.raises(TypeError, match="DataFrame"):
        encode_reference({"x": 1}, ["x"])


def test_grouped_errors():
    x, y, groups, reference = planted(within_signal=0.0)
    with pytest.raises(ValueError, match="needs groups"):
        TransferPredictor().evaluate(x, y, hold_out="group")
    with pytest.raises(ValueError, match="hold_out"):
        TransferPredictor().evaluate(x, y, groups=groups, hold_out="recipe")
    with pytest.raises(TypeError, match="bootstrap_groups"):
        TransferPredictor().evaluate(x, y, bootstrap_groups="recipe")
    with pytest.raises(ValueError, match="no row"):
        TransferPredictor().evaluate(x, y, reference=reference.iloc[1:])


def test_spearman_over_and_within_residuals_by_hand():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.column_stack([a, -a, [1.0, 1.0, 1.0, 1.0]])
    rho = spearman_over(a, p, [np.arange(4), np.array([0, 0, 1, 1])])
    np.testing.assert_allclose(rho[0, :2], [1.0, -1.0])
    assert np.isnan(rho[0, 2]) and np.isnan(rho[1, 2])
    np.testing.assert_allclose(rho[1, :2], [1.0, -1.0])
    res = within_residuals(np.array([1.0, 3.0, 10.0, 20.0]), np.array(["a", "a", "b", "b"]))
    np.testing.assert_allclose(res, [-1.0, 1.0, -5.0, 5.0])
