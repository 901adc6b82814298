"""The sentences the report and the CLI print about a transfer evaluation, on both sides of
every threshold they apply.

Each case builds one row of a :class:`~manifold.zoo.TransferEvaluation` table by hand, so the
expected words follow from the numbers in the test and the rule in the docstring of
:func:`manifold.report.transfer_verdict`: a ranking is above chance when the 95 % interval
excludes 0 *and* p <= 0.05; a predictor is better or worse than another only when each one's
rho lies outside the other's interval; the geometry adds to the reference when the gain's
interval lies above 0.
"""

import math

import pandas as pd
import pytest

from manifold.report import VERDICT_LEVEL, transfer_verdict
from manifold.zoo import TransferEvaluation

NAN = math.nan


def _evaluation(**row) -> TransferEvaluation:
    table = pd.DataFrame([row], index=pd.Index(["t"], name="task"))
    predictions = pd.DataFrame(
        {
            "task": ["t"] * 4,
            "model": list("abcd"),
            "control": [False] * 4,
            "actual": [0.5, 0.7, 0.9, 0.6],
            "predicted": [0.5, 0.6, 0.8, 0.7],
        }
    )
    return TransferEvaluation(table, predictions)


def verdict(**row) -> str:
    row.setdefault("regret", 0.0)
    return transfer_verdict(_evaluation(**row), "t")


def test_the_level_is_five_percent():
    assert VERDICT_LEVEL == 0.05


@pytest.mark.parametrize(
    ("low", "p", "head"),
    [
        (0.10, 0.049, "the profile ranks the models above chance"),
        (0.10, 0.050, "the profile ranks the models above chance"),  # p <= level counts
        (0.10, 0.051, "weak evidence the profile ranks the models (the interval and the p-value"),
        (-0.05, 0.010, "weak evidence the profile ranks the models (the interval and the p-value"),
        (0.00, 0.010, "weak evidence"),  # an interval that touches 0 does not exclude it
        (-0.05, 0.200, "no evidence the profile ranks the models"),
        (0.10, NAN, "the profile's rank interval excludes 0 (no permutation test was run)"),
        (-0.05, NAN, "no evidence the profile ranks the models"),
    ],
)
def test_chance_needs_the_interval_and_the_p_value(low, p, head):
    text = verdict(spearman=0.6, spearman_low=low, spearman_high=0.9, p_value=p)
    assert text.startswith(f"t: {head}")
    assert f"rho = 0.60 [{low:.2f}, 0.90]" in text
    if not math.isnan(p):
        assert f"p = {p:.3f}" in text


def test_an_undefined_rho_is_said():
    text = verdict(spearman=NAN, spearman_low=NAN, spearman_high=NAN, p_value=NAN)
    assert text.startswith("t: no evidence the profile ranks the models (rho undefined)")


def test_regret_in_the_scores_units_and_share_of_their_range():
    text = verdict(spearman=0.6, spearman_low=0.1, spearman_high=0.9, p_value=0.01, regret=0.1)
    # the scores of the models run from 0.5 to 0.9: a regret of 0.1 is 25 % of that range
    assert "picking its top model costs 0.1 in the scores' own units (25% of their range" in text
    assert "0.5 to 0.9" in text
    zero = verdict(spearman=0.6, spearman_low=0.1, spearman_high=0.9, p_value=0.01, regret=0.0)
    assert "its top model is the best one (regret 0)" in zero


@pytest.mark.parametrize(
    ("base", "word"),
    [
        # each rho outside the other's interval: better / worse
        ((0.10, -0.20, 0.40), "better than"),
        ((0.95, 0.85, 0.99), "worse than"),
        # the profile's rho inside the baseline's interval: not distinguishable
        ((0.30, -0.10, 0.75), "not distinguishable from"),
        # the baseline's rho inside the profile's interval: not distinguishable either
        ((0.55, 0.45, 0.60), "not distinguishable from"),
    ],
)
def test_a_baseline_is_beaten_only_when_the_intervals_say_so(base, word):
    rho, lo, hi = base
    text = verdict(
        spearman=0.7,
        spearman_low=0.5,
        spearman_high=0.85,
        p_value=0.01,
        rankme_spearman=rho,
        rankme_spearman_low=lo,
        rankme_spearman_high=hi,
    )
    assert f"{word} RankMe alone (higher is better): rho = {rho:.2f} [{lo:.2f}, {hi:.2f}]" in text
    for other in {"better than", "worse than", "not distinguishable from"} - {word}:
        assert f"{other} RankMe" not in text


def test_the_strongest_baseline_is_shown_beside_rankme():
    text = verdict(
        spearman=0.7,
        spearman_low=0.5,
        spearman_high=0.85,
        p_value=0.01,
        rankme_spearman=-0.3,
        rankme_spearman_low=-0.6,
        rankme_spearman_high=0.1,
        alpha_spearman=0.2,
        alpha_spearman_low=-0.2,
        alpha_spearman_high=0.5,
        directed_twonn_spearman=0.8,
        directed_twonn_spearman_low=0.6,
        directed_twonn_spearman_high=0.9,
    )
    assert "better than RankMe alone (higher is better): rho = -0.30" in text
    # twonn directed (0.80) is the strongest; alpha (0.20) is in neither line
    assert "not distinguishable from twonn alone (sign learned from labels): rho = 0.80" in text
    assert "alpha" not in text


@pytest.mark.parametrize(
    ("gain", "word"),
    [
        ((0.08, 0.01, 0.21), "the geometry adds to what the reference knows"),
        ((0.08, -0.02, 0.21), "no evidence the geometry adds to the reference"),
        ((0.08, 0.00, 0.21), "no evidence the geometry adds to the reference"),
        ((-0.10, -0.30, -0.02), "adding the geometry makes the prediction worse"),
    ],
)
def test_the_gain_over_the_reference(gain, word):
    g, lo, hi = gain
    text = verdict(
        spearman=0.7,
        spearman_low=0.5,
        spearman_high=0.85,
        p_value=0.01,
        reference_spearman=0.6,
        reference_spearman_low=0.4,
        reference_spearman_high=0.8,
        combined_spearman=0.6 + g,
        gain_spearman=g,
        gain_spearman_low=lo,
        gain_spearman_high=hi,
    )
    assert f"the reference alone: rho = 0.60; profile + reference: gain {g:+.2f} " in text
    assert f"[{lo:+.2f}, {hi:+.2f}]: {word}" in text
    # the reference and the combined predictor are read only through the gain line
    assert "than the reference" not in text and "the profile with the reference" not in text


@pytest.mark.parametrize(
    ("low", "p", "word"),
    [
        (0.05, 0.01, "it ranks the models inside their groups"),
        (-0.10, 0.01, "weak evidence it ranks the models inside their groups"),
        (0.05, 0.30, "weak evidence it ranks the models inside their groups"),
        (-0.10, 0.30, "no evidence it ranks the models inside their groups"),
    ],
)
def test_the_within_group_rank(low, p, word):
    text = verdict(
        spearman=0.7,
        spearman_low=0.5,
        spearman_high=0.85,
        p_value=0.01,
        within_spearman=0.4,
        within_spearman_low=low,
        within_spearman_high=0.7,
        within_p_value=p,
    )
    assert text.endswith(
        f"{word} (within groups rho = 0.40 [{low:.2f}, 0.70], p = {p:.3f} "
        "(scores shuffled inside groups))."
    )
    if word.startswith("it"):
        assert "no evidence it" not in text and "weak evidence it" not in text


def test_no_within_words_without_groups():
    text = verdict(spearman=0.7, spearman_low=0.5, spearman_high=0.85, p_value=0.01)
    assert "within groups" not in text and "gain" not in text


def test_the_cli_headline_reads_every_predictor_from_the_row():
    evaluation = _evaluation(
        spearman=0.7,
        spearman_low=0.5,
        spearman_high=0.85,
        p_value=0.012,
        regret=0.1,
        rankme_spearman=-0.3,
        rankme_spearman_low=-0.6,
        rankme_spearman_high=0.1,
        rankme_regret=0.2,
        reference_spearman=0.6,
        reference_spearman_low=0.4,
        reference_spearman_high=0.8,
        reference_regret=0.0,
        gain_spearman=0.08,
        gain_spearman_low=0.01,
        gain_spearman_high=0.21,
        within_spearman=0.4,
        within_p_value=0.03,
    )
    assert evaluation.headline("t") == (
        "t: profile rho +0.70 [+0.50, +0.85], regret 0.1 (p = 0.012); "
        "RankMe (higher is better) rho -0.30 [-0.60, +0.10], regret 0.2; "
        "reference rho +0.60 [+0.40, +0.80], regret 0; gain +0.08 [+0.01, +0.21]; "
        "within groups rho +0.40 (p = 0.030)"
    )
