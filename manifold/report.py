"""A self-contained HTML report of one or more profiles (figures embedded as PNG).

The page has one section per result that is given: a per-model summary of the semantic
manifold, invariance heat maps per augmentation family, eigenspectra, the clustering of the
models (dendrogram, map, labels, adjusted Rand index) and the transfer predictions (per-task
table and held-out predictions), then the run settings and any metric that could not be
computed. Every figure is embedded as a base64 PNG, so the single file can be mailed or opened
offline.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from manifold.settings import COLLAPSE_RANK
from manifold.typing import Grouping

if TYPE_CHECKING:
    import pandas as pd

    from manifold.results import Profile
    from manifold.spectral import Spectrum
    from manifold.zoo import ClusterResult, SimilarityMatrix, TransferEvaluation

__all__ = [
    "ALPHA_R2_WARN",
    "BASELINE_LABELS",
    "COLLAPSE_RANKME",
    "INVARIANCE_FIGURES",
    "LAYER_FIGURES",
    "METRIC_GUIDE",
    "SECTIONS",
    "VERDICT_LEVEL",
    "collapsed_models",
    "transfer_agreement",
    "transfer_columns",
    "transfer_verdict",
    "write_report",
]

#: Section ids (HTML ``id`` of each ``<h2>``) in page order, with their headings.
SECTIONS = {
    "summary": "Per-model summary",
    "layers": "Geometry across layers",
    "invariance": "Augmentation invariance",
    "spectra": "Eigenspectra",
    "clusters": "Models clustered by geometry",
    "similarity": "Direct similarity of the representations",
    "transfer": "Transfer prediction",
    "settings": "Settings",
    "failures": "Metrics not computed",
    "files": "Files",
}

#: Invariance metrics drawn as heat maps (when the profile has them).
INVARIANCE_FIGURES = ("spread_ratio", "same_source_rate", "augmentation_dimension", "lidar")
#: Semantic metrics drawn against depth when a profile sweeps several layers.
LAYER_FIGURES = ("twonn_dimension", "mle_dimension", "rankme", "alpha")

#: Unit and direction of every metric of a profile: how to read its number.
METRIC_GUIDE = {
    "rankme": ("dimensions (1..D)", "higher: more directions used (collapse gives 1)"),
    "effective_rank": ("dimensions (1..D)", "higher: more directions used"),
    "stable_rank": ("dimensions (1..D)", "higher: energy spread beyond the top direction"),
    "participation_ratio": ("dimensions (1..D)", "higher: variance spread over more directions"),
    "nesum": ("dimensions (1..D)", "higher: slower eigenvalue decay"),
    "alpha": ("exponent (no unit)", "higher: faster spectral decay, fewer effective dimensions"),
    "alpha_r2": ("R² (≤ 1)", "fit quality of alpha; below 0.9 the power law fits poorly"),
    "twonn_dimension": ("dimensions", "intrinsic dimension of the data manifold"),
    "mle_dimension": ("dimensions", "intrinsic dimension (20 neighbours)"),
    "nnk_degree": ("neighbours", "higher: locally more complex, higher-dimensional"),
    "nnk_diameter": ("k-NN units", "size of a point's NNK polytope (median k-th distance = 1)"),
    "local_dimension": ("dimensions", "local PCA dimension of each NNK neighbourhood"),
    "subspace_angles": ("degrees (0..90)", "higher: more curved (tangent spaces turn faster)"),
    "ollivier_ricci": ("curvature (≤ 1)", "> 0 clustered, < 0 tree-like / bottlenecks"),
    "forman_ricci": ("curvature", "more negative: more tree-like, fewer triangles"),
    "spread_ratio": ("semantic k-NN units", "lower: more invariant (0 = ignores the augmentation)"),
    "augmentation_diameter_ratio": ("ratio", "lower: views stay within the semantic polytope"),
    "same_source_rate": ("fraction (0..1)", "higher: an image's views stay together"),
    "augmentation_dimension": ("dimensions", "lower: the augmentation moves fewer directions"),
    "tangent_alignment": ("degrees (0..90)", "lower: views move along the data manifold"),
    "lidar": ("dimensions", "higher: more discriminative directions between images"),
    "alignment": ("squared distance (0..2K/(K-1))", "lower: views of an image agree"),
}
#: An alpha fit with R² below this is flagged in the report.
ALPHA_R2_WARN = 0.9
#: A representation whose RankMe is below this uses about one direction of its space (RankMe
#: counts effective dimensions; 1 is complete collapse): the report calls it near-collapsed.
COLLAPSE_RANKME = COLLAPSE_RANK
#: Summary metrics that still describe a collapsed representation: its rank (1).
_RANK_METRICS = ("rankme", "effective_rank", "stable_rank")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
       padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
nav a { margin-right: 1em; font-size: 14px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f3f3f3; max-width: 90px; white-space: normal; vertical-align: bottom; }
td:first-child, th:first-child { text-align: left; max-width: none; }
img { max-width: 100%; } .note { color: #666; font-size: 13px; }
.figs { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.figs img { max-width: 540px; } .figs.wide img { max-width: 100%; }
"""


def _png(fig: Any, name: str | None, figure_dir: Path | None) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    data = buf.getvalue()
    if figure_dir is not None and name:
        figure_dir.mkdir(parents=True, exist_ok=True)
        (figure_dir / f"{name}.png").write_bytes(data)
    return data


def _figure_html(fig: Any, alt: str, name: str | None = None, figure_dir: Path | None = None):
    data = base64.b64encode(_png(fig, name, figure_dir)).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table_html(frame: Any, index: bool = True, wrap: bool = True) -> str:
    """A table as HTML with one header row (a named index becomes the first column).

    ``wrap``: underscores in the column names become spaces, so that long metric names wrap
    inside narrow header cells (not for columns named by models, whose names keep them).
    """
    if index and any(name is not None for name in frame.index.names):
        # pandas writes a named index as a second header row, empty but for its name
        frame, index = frame.reset_index(), False
    if wrap:
        frame = frame.rename(columns=lambda c: str(c).replace("_", " "))
    body = frame.to_html(float_format=lambda v: f"{v:.4g}", border=0, index=index, na_rep="–")
    return f'<div class="scroll">{body}</div>'


def _heading(section: str) -> str:
    return f'<h2 id="{section}">{html.escape(SECTIONS[section])}</h2>'


def _clusters_html(
    result: ClusterResult, figure_dir: Path | None, groupings: Mapping[str, Grouping] | None = None
) -> list[str]:
    import pandas as pd

    parts = [_heading("clusters")]
    line = (
        f"{len(result.models)} models, {result.matrix.shape[1]} z-scored metrics, "
        f"{result.distance} distance, {result.method} linkage; {result.n_clusters} clusters "
        f"(rule: {result.n_clusters_rule})."
    )
    if result.adjusted_rand_index is not None and not groupings:
        line += f" Adjusted Rand index against the given groups: {result.adjusted_rand_index:.3f}."
    parts.append(f"<p>{html.escape(line)}</p>")
    if groupings:
        rows = {key: result.agreement(groups, n_permutations=999) for key, groups in
                groupings.items()}  # fmt: skip
        table = pd.DataFrame(rows).T[["n_groups", "ari", "ari_p_value", "nmi", "nmi_p_value"]]
        table.index.name = "grouping"
        parts.append(
            '<p class="note">Agreement of the tree, cut at each grouping\'s number of groups, '
            "with that grouping: adjusted Rand index (0 = chance, 1 = identical) and normalised "
            "mutual information, each with a label-permutation p-value (999 permutations).</p>"
        )
        parts.append(_table_html(table))
        parts.append(f"<p><b>Verdict.</b> {html.escape(_cluster_verdict(rows))}</p>")
    if result.dropped:
        dropped = ", ".join(f"{k} ({v})" for k, v in result.dropped.items())
        parts.append(f'<p class="note">Metrics left out: {html.escape(dropped)}</p>')
    if result.within_noise:
        noisy = ", ".join(result.within_noise)
        parts.append(
            f'<p class="note"><b>Within noise:</b> in {len(result.within_noise)} of '
            f"{result.matrix.shape[1]} clustered metrics the models do not differ beyond their "
            f"standard errors (Cochran's Q, p &gt; 0.05), yet these metrics weigh as much as "
            f"the others after z-scoring: {html.escape(noisy)}.</p>"
        )
    parts.append('<div class="figs">')
    first = next(iter(groupings.values())) if groupings else None
    parts.append(_figure_html(result.plot_dendrogram(groups=first), "dendrogram", "dendrogram",
                              figure_dir))  # fmt: skip
    parts.append(_figure_html(result.plot_map(groups=first), "model map", "model_map", figure_dir))
    parts.append("</div>")
    labels = pd.DataFrame({"cluster": result.labels})
    if result.groups is not None:
        labels["group"] = result.groups
    for key, groups in (groupings or {}).items():
        labels[key] = pd.Series(dict(groups)).reindex(labels.index)
    labels = labels.join(result.embedding_2d)
    parts.append(_table_html(labels))
    return parts


def _cluster_verdict(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """One sentence: which grouping the geometry recovers, with the p-values."""
    said = []
    for key, r in rows.items():
        if r["degenerate"]:
            said.append(f"the {key} grouping is degenerate (nothing to recover)")
            continue
        verdict = "recovers" if r["ari_p_value"] <= 0.05 else "does not recover"
        said.append(f"geometry {verdict} the {key} (ARI {r['ari']:.2f}, "
                    f"p = {r['ari_p_value']:.3f})")  # fmt: skip
    usable = {k: r for k, r in rows.items() if not r["degenerate"]}
    text = "; ".join(said) + "."
    if len(usable) >= 2:
        best = max(usable, key=lambda k: usable[k]["ari"])
        text += f" It agrees most with the {best}."
    return text[0].upper() + text[1:]


#: Baseline names of a transfer evaluation as the report writes them.
BASELINE_LABELS = {
    "rankme": "RankMe (higher is better)",
    "effective_rank": "effective rank (higher is better)",
    "alpha": "alpha (closest to 1)",
    "twonn": "TwoNN (lower is better)",
    "lidar": "LiDAR (higher is better)",
    "spectral": "a ridge on the spectral metrics",
    "reference": "the reference",
    "combined": "the profile with the reference",
}
#: Predictors compared with the profile in a verdict only through the gain line.
_REFERENCE_PREFIXES = ("reference", "combined")
#: Significance level of the verdicts (the permutation p-value and a 95 % interval).
VERDICT_LEVEL = 0.05


def transfer_agreement(row: pd.Series | Mapping[str, float], prefix: str = "") -> dict[str, float]:
    """One predictor's agreement with the actual scores, from a transfer evaluation row.

    Reads the columns ``<prefix>spearman``, ``<prefix>spearman_low``, ``<prefix>spearman_high``
    (the 95 % bootstrap interval), ``<prefix>p_value`` and ``<prefix>regret`` of a row of
    :attr:`~manifold.zoo.TransferEvaluation.table` (``prefix`` ``""`` for the profile's
    prediction, ``"rankme_"`` for a baseline); a column the row lacks is NaN. Every verdict
    reads a table through this function, so a predictor added as new prefixed columns is read
    the same way.

    Returns:
        ``{"rho", "low", "high", "p_value", "regret"}``.
    """
    names = {"rho": "spearman", "low": "spearman_low", "high": "spearman_high",
             "p_value": "p_value", "regret": "regret"}  # fmt: skip
    out = {}
    for key, column in names.items():
        value = row.get(f"{prefix}{column}", float("nan"))
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            out[key] = float("nan")
    return out


def _finite(x: float) -> bool:
    return x == x and x not in (float("inf"), float("-inf"))


def _evidence(stats: Mapping[str, float]) -> tuple[str, str]:
    """``(kind, words)``: whether the ranking beats chance, from the interval and p together.

    ``kind``: ``"yes"`` (the interval excludes 0 and p <= 0.05), ``"no"`` (neither),
    ``"mixed"`` (one says yes, the other no) or ``"interval"`` (no p-value: the interval only).
    """
    rho, lo, hi, p = stats["rho"], stats["low"], stats["high"], stats["p_value"]
    ranked = f"rho = {rho:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if _finite(lo) else "")
    if not _finite(rho):
        return "no", "rho undefined"
    interval = _finite(lo) and lo > 0
    if not _finite(p):
        if not _finite(lo):
            return "no", f"{ranked}, no interval or p-value"
        return ("interval" if interval else "no"), f"{ranked}, no permutation p-value"
    tested = p <= VERDICT_LEVEL
    words = f"{ranked}, p = {p:.3f}"
    if interval and tested:
        return "yes", words
    if not interval and not tested:
        return "no", words
    return "mixed", words


def _scores_range(predictions: Any, task: str) -> tuple[float, float] | None:
    """Lowest and highest actual score of ``task`` (models in the statistics, not controls)."""
    if predictions is None or "actual" not in getattr(predictions, "columns", ()):
        return None
    rows = predictions[predictions["task"] == task]
    if "control" in rows.columns:
        rows = rows[~rows["control"].astype(bool)]
    actual = rows["actual"].astype(float)
    actual = actual[actual.notna()]
    return (float(actual.min()), float(actual.max())) if len(actual) else None


def _regret_words(regret: float, span: tuple[float, float] | None) -> str:
    """The regret in the scores' own units, with its share of their range when known."""
    if not _finite(regret):
        return ""
    if regret == 0:
        return "its top model is the best one (regret 0)"
    text = f"picking its top model costs {regret:.3g} in the scores' own units"
    if span is not None and span[1] > span[0]:
        text += (f" ({regret / (span[1] - span[0]):.0%} of their range, "
                 f"{span[0]:.3g} to {span[1]:.3g})")  # fmt: skip
    return text


def _baseline_words(stats: Mapping[str, float], base: Mapping[str, float], label: str) -> str:
    """The profile against one baseline: better or worse only when the intervals say so."""
    b_rho, b_lo, b_hi = base["rho"], base["low"], base["high"]
    # "RankMe (higher is better)" reads "RankMe alone (higher is better): rho = ..."
    name, paren, direction = label.partition(" (")
    shown = f"{name} alone{' (' + direction if paren else ''}: rho = {b_rho:.2f}" + (
        f" [{b_lo:.2f}, {b_hi:.2f}]" if _finite(b_lo) else ""
    )
    rho, lo, hi = stats["rho"], stats["low"], stats["high"]
    if _finite(lo) and _finite(b_hi) and lo > b_rho and b_hi < rho:
        return f"better than {shown}"
    if _finite(hi) and _finite(b_lo) and hi < b_rho and b_lo > rho:
        return f"worse than {shown}"
    return f"not distinguishable from {shown}"


def transfer_verdict(evaluation: TransferEvaluation, task: str) -> str:
    """One sentence per task: does the profile rank the models, at what cost, next to baselines.

    The ranking is called above chance only when the 95 % bootstrap interval of Spearman's rho
    excludes 0 *and* the permutation p-value is at most 0.05; when the two disagree (few
    models) the sentence says so. The regret is in the scores' own units (with its share of
    their range). The profile is called better or worse than a one-metric baseline only when
    each predictor's rho lies outside the other's interval; the baselines shown are RankMe and
    the strongest one.

    Args:
        evaluation: A :class:`~manifold.zoo.TransferEvaluation`.
        task: A row of its table.
    """
    table = evaluation.table
    row = table.loc[task]
    stats = transfer_agreement(row)
    kind, words = _evidence(stats)
    head = {
        "yes": "the profile ranks the models above chance",
        "no": "no evidence the profile ranks the models",
        "mixed": "weak evidence the profile ranks the models (the interval and the p-value "
        "disagree; few models)",
        "interval": "the profile's rank interval excludes 0 (no permutation test was run)",
    }[kind]
    parts = [f"{task}: {head} ({words})"]
    regret = _regret_words(stats["regret"], _scores_range(getattr(evaluation, "predictions", None),
                                                          task))  # fmt: skip
    if regret:
        parts.append(regret)
    baselines = [b for b in getattr(evaluation, "baselines", [])
                 if b not in _REFERENCE_PREFIXES
                 and _finite(transfer_agreement(row, f"{b}_")["rho"])]  # fmt: skip
    shown = [b for b in baselines if b == "rankme"]
    if baselines:
        best = max(baselines, key=lambda b: transfer_agreement(row, f"{b}_")["rho"])
        if best not in shown:
            shown.append(best)
    for b in shown:
        label = BASELINE_LABELS.get(b, b.replace("directed_", "") + " (sign learned from labels)")
        parts.append(_baseline_words(stats, transfer_agreement(row, f"{b}_"), label))
    gain = _gain_words(row)
    if gain:
        parts.append(gain)
    within = _within_words(row)
    if within:
        parts.append(within)
    return "; ".join(parts) + "."


def _gain_words(row: pd.Series) -> str:
    """What the geometry adds to the reference: the gain and its paired interval."""
    gain = float(row.get("gain_spearman", float("nan")))
    if not _finite(gain):
        return ""
    ref = transfer_agreement(row, "reference_")
    lo, hi = float(row.get("gain_spearman_low", "nan")), float(row.get("gain_spearman_high", "nan"))
    shown = f"the reference alone: rho = {ref['rho']:.2f}; profile + reference: gain {gain:+.2f}"
    shown += f" [{lo:+.2f}, {hi:+.2f}]" if _finite(lo) else ""
    if _finite(lo) and lo > 0:
        return shown + ": the geometry adds to what the reference knows"
    if _finite(hi) and hi < 0:
        return shown + ": adding the geometry makes the prediction worse"
    return shown + ": no evidence the geometry adds to the reference"


def _within_words(row: pd.Series) -> str:
    """Whether the profile ranks the models inside their groups (group effects removed)."""
    rho = float(row.get("within_spearman", float("nan")))
    if not _finite(rho):
        return ""
    lo, hi = float(row.get("within_spearman_low", "nan")), float(row.get("within_spearman_high",
                                                                        "nan"))  # fmt: skip
    p = float(row.get("within_p_value", float("nan")))
    shown = f"within groups rho = {rho:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if _finite(lo) else "")
    shown += f", p = {p:.3f} (scores shuffled inside groups)" if _finite(p) else ""
    kind, _ = _evidence({"rho": rho, "low": lo, "high": hi, "p_value": p})
    verdict = {"yes": "it ranks the models inside their groups",
               "no": "no evidence it ranks the models inside their groups",
               "mixed": "weak evidence it ranks the models inside their groups",
               "interval": "its within-group interval excludes 0"}[kind]  # fmt: skip
    return f"{verdict} ({shown})"


def transfer_columns(evaluation: TransferEvaluation) -> list[str]:
    """The columns of a transfer evaluation a reader sees first (those present in its table).

    The profile's rank agreement, its interval, p-value and regret; with a reference the
    reference's rho, the profile with it and the gain; with groups the within-group rank; then
    RankMe label-free and directed and the spectral ridge (rho and regret). Every other column
    is in the table.
    """
    first = ["n_models", "spearman", "spearman_low", "spearman_high", "p_value", "regret"]
    table = evaluation.table
    if "gain_spearman" in table.columns:
        first += ["reference_spearman", "combined_spearman", "gain_spearman",
                  "gain_spearman_low", "gain_spearman_high"]  # fmt: skip
    if "within_spearman" in table.columns and table["within_spearman"].notna().any():
        first += ["within_spearman", "within_spearman_low", "within_spearman_high",
                  "within_p_value"]  # fmt: skip
    for b in getattr(evaluation, "baselines", []):
        if b in ("rankme", "directed_rankme", "spectral"):
            first += [f"{b}_spearman", f"{b}_regret"]
    return [c for c in first if c in table.columns]


def _similarity_html(
    similarity: SimilarityMatrix, figure_dir: Path | None, groupings: Any = None
) -> list[str]:
    """The similarity matrix's heat map, with what it measures and its most alike pairs."""
    parts = [_heading("similarity")]
    measure = similarity.measure
    what = {
        "cka": "debiased linear CKA (1: the same representation up to rotation and scale)",
        "mutual_knn": "mutual k-nearest-neighbour overlap",
        "procrustes": "orthogonal Procrustes similarity",
    }.get(measure, measure)
    parts.append(
        f'<p class="note">The representations compared directly on the same {similarity.n} '
        f"images: {html.escape(what)}, every pair of models, ordered by average linkage on "
        "1 − similarity. Unlike the clustering above, which compares summaries (the metric "
        "profiles), this compares the embeddings themselves; all pairs are in "
        "similarity_matrix.csv.</p>"
    )
    groups = None
    if groupings:
        groups = next(iter(groupings.values()))
    fig = similarity.plot(groups=groups)
    parts.append(_figure_html(fig, f"{measure} similarity", "similarity", figure_dir))
    table = similarity.table
    pairs = table[table["model_a"] != table["model_b"]].sort_values("value", ascending=False)
    if len(pairs):
        top = pairs.head(5)[["model_a", "model_b", "value"]].reset_index(drop=True)
        parts.append('<p class="note">The most alike pairs:</p>')
        parts.append(_table_html(top.round(3)))
    return parts


def _transfer_html(
    evaluation: Any, figure_dir: Path | None, profile: Any = None, scores: Any = None
) -> list[str]:
    from manifold.plot import plot_correlations, plot_predictions

    parts = [_heading("transfer")]
    parts.append(
        '<p class="note">Per task, ridge regression from the z-scored metrics to the score, '
        "evaluated on held-out models (nested CV for the penalty). Rank agreement of the "
        "held-out predictions with the actual scores: Spearman rho with a 95 % bootstrap "
        "interval over models and a permutation p-value; regret = best actual score minus the "
        "actual score of the model predicted best (in the scores' own units; lower is better); "
        "R² next to the intercept-only R² under the same folds (null r2). The same for RankMe "
        "used as its paper says (higher is better), RankMe with the sign learned from the "
        "scores (directed), and a ridge on the spectral metrics together; with a reference "
        "(what is known without geometry), the reference alone, the profile and the reference "
        "together and the gain, with a paired interval; with groups, the rank within groups "
        "(each group's mean removed) and its p-value from shuffles inside groups. "
        "Controls (untrained, supervised) are predicted but take no part in the statistics. "
        "All columns are in "
        "transfer_evaluation.csv.</p>"
    )
    cols = transfer_columns(evaluation)
    cols += [c for c in ("top1", "top3", "r2", "null_r2") if c in evaluation.table.columns]
    parts.append(_table_html(evaluation.table[cols]))
    verdicts = "".join(f"<li>{html.escape(transfer_verdict(evaluation, t))}</li>"
                       for t in evaluation.table.index)  # fmt: skip
    parts.append(f"<p><b>Verdict.</b></p><ul>{verdicts}</ul>")
    for note in evaluation.notes:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    if profile is not None and scores is not None and len(scores) >= 4:
        matrix = profile.to_matrix().loc[list(scores.index)]
        fig = plot_correlations(matrix, scores)
        parts.append(
            '<p class="note">Which metric goes with which task: Spearman rho across the '
            "self-supervised models; a star marks a 95 % bootstrap interval that excludes 0.</p>"
        )
        parts.append(_figure_html(fig, "metric-task correlations", "correlations", figure_dir))
    baseline = next((b for b in ("reference", "directed_rankme", "rankme")
                     if b in evaluation.baselines), evaluation.baselines[0])  # fmt: skip
    fig = plot_predictions(evaluation, baseline=baseline)
    parts.append(_figure_html(fig, "transfer predictions", "transfer_predictions", figure_dir))
    return parts


#: Settings left out of the report's settings tables (kept in profile.json): the command is in
#: the header, and the others differ between any two runs.
_UNREPORTED_SETTINGS = ("command", "seconds", "fingerprint", "embeddings_fingerprint")


def _settings_tables(settings: Mapping[str, Mapping[str, Any]]) -> tuple[Any, Any]:
    """``(shared, differing)``: settings equal for every model, and those that differ.

    ``shared`` has one row per setting (columns ``setting``, ``value``); ``differing`` one
    row per setting and one column per model (None when every setting agrees). A setting a
    model lacks, or that is None, shows as "–".
    """
    import pandas as pd

    def text(value: Any) -> str:
        if isinstance(value, (list, tuple)):
            return ", ".join(map(str, value))
        return "–" if value is None else str(value)

    keys = list(dict.fromkeys(k for s in settings.values() for k in s
                              if k not in _UNREPORTED_SETTINGS))  # fmt: skip
    frame = pd.DataFrame(
        {model: [text(s[k]) if k in s else "–" for k in keys] for model, s in settings.items()},
        index=pd.Index(keys, name="setting"),
        dtype=object,
    )
    if not keys:
        return pd.DataFrame({"value": []}, index=pd.Index([], name="setting")), None
    same = frame.apply(lambda row: row.nunique(dropna=False) <= 1, axis=1)
    shared = frame[same].iloc[:, :1].set_axis(["value"], axis=1)
    differing = frame[~same] if (~same).any() else None
    return shared, differing


def _invariance_table(t: Any, metrics: list[str]) -> Any:
    from manifold.results import SEMANTIC

    rows = t[(t["manifold"] != SEMANTIC) & t["metric"].isin(metrics)
             & t["statistic"].isin(["value", "mean"])]  # fmt: skip
    table = rows.pivot_table(index="manifold", columns="metric", values="value", sort=False)
    table.index.name = "family"
    table.columns.name = None
    return table


def collapsed_models(profile: Profile) -> dict[str, str]:
    """Models whose semantic embeddings are collapsed or near-collapsed, with what was seen.

    ``"collapsed"``: every image has the same embedding (the centered covariance is zero:
    the spectrum has no positive eigenvalue, or a metric failed saying so); its graph metrics
    then describe ties (every point's ``k`` neighbours at distance 0), not geometry.
    ``"near-collapsed"``: RankMe below :data:`COLLAPSE_RANKME`, about one direction used;
    such a representation moves little under any augmentation, so a low spread ratio says
    little. In a layer sweep of several layers the keys are ``model@layer``.

    Returns:
        Model (or ``model@layer``) -> ``"collapsed"`` or ``"near-collapsed"``.

    Examples:
        >>> import numpy as np
        >>> from manifold import Profile, profile
        >>> rng = np.random.default_rng(0)
        >>> prof = Profile.concat([
        ...     profile(np.ones((30, 4)), k=5, name="dead", progress=False),
        ...     profile(5 + 1e-3 * rng.standard_normal((30, 4)), k=5, name="near",
        ...             progress=False),
        ...     profile(rng.standard_normal((30, 4)), k=5, name="fine", progress=False)])
        >>> collapsed_models(prof)
        {'dead': 'collapsed', 'near': 'near-collapsed'}
    """
    from manifold.results import SEMANTIC

    t = _per_layer(profile)
    sweep = len(getattr(profile, "layers", [])) > 1
    states: dict[str, str] = {}
    for model, spectrum in profile.spectra.items():
        eigenvalues = np.asarray(spectrum.eigenvalues, dtype=float)
        if spectrum.centered and not (eigenvalues > 0).any():
            states[str(model)] = "collapsed"
    for f in profile.failures:
        error = str(f.get("error", ""))
        if f.get("manifold") == SEMANTIC and ("covariance of z is zero" in error
                                              or "constant embeddings" in error):  # fmt: skip
            key = f"{f['model']}@{f['layer']}" if sweep and f.get("layer") is not None else None
            states[key or str(f["model"])] = "collapsed"
    rank = t[(t["manifold"] == SEMANTIC) & (t["metric"] == "rankme")
             & (t["statistic"] == "value")]  # fmt: skip
    for model, value in zip(rank["model"], rank["value"], strict=True):
        if value < COLLAPSE_RANKME:
            states.setdefault(str(model), "near-collapsed")
    models = list(dict.fromkeys(t["model"].astype(str)))
    return {m: states[m] for m in models if m in states}


def _collapse_note(states: Mapping[str, str], t: Any) -> str:
    """One sentence naming the collapsed and near-collapsed models and what that means."""
    from manifold.results import SEMANTIC

    if not states:
        return ""
    rank = t[(t["manifold"] == SEMANTIC) & (t["metric"] == "rankme")
             & (t["statistic"] == "value")].set_index("model")["value"]  # fmt: skip
    said = []
    for model, state in states.items():
        value = rank.get(model)
        said.append(f"{model} ({state}" + (f", RankMe {value:.2f}" if value is not None else "")
                    + ")")  # fmt: skip
    return (
        "Collapsed or near-collapsed representations: " + ", ".join(said) + ". A collapsed "
        "model maps every image to one point: its graph metrics describe ties, not "
        "geometry, and are shown as – here; a near-collapsed one (RankMe below "
        f"{COLLAPSE_RANKME:g}) uses about one direction: its invariance says little."
    )


def _mark_collapsed(summary: Any, states: Mapping[str, str], sweep: bool) -> Any:
    """The summary with collapsed rows labelled, and a collapsed row's graph metrics blank."""
    if not states:
        return summary
    summary = summary.copy()

    def key(label: Any) -> str:
        return (
            f"{label[0]}@{label[1]}"
            if sweep and isinstance(label, tuple)
            else str(label[0] if isinstance(label, tuple) else label)
        )

    blank = [c for c in summary.columns if c not in _RANK_METRICS]
    for label in summary.index:
        if states.get(key(label)) == "collapsed":
            summary.loc[label, blank] = np.nan

    def rename(label: Any) -> Any:
        state = states.get(key(label))
        if state is None:
            return label
        if isinstance(label, tuple):
            return (f"{label[0]} ({state})", *label[1:])
        return f"{label} ({state})"

    summary.index = summary.index.map(rename)
    return summary


def _invariance_verdict(
    t: Any, families: list[str], states: Mapping[str, str] | None = None
) -> str:
    """Per family, the most and least invariant model by spread ratio (with its se if known).

    Models in ``states`` (:func:`collapsed_models`) are named apart, never "most invariant".
    """
    rows = t[(t["metric"] == "spread_ratio") & t["manifold"].isin(families)]
    means = rows[rows["statistic"] == "mean"]
    if means.empty:
        return ""
    ses = rows[rows["statistic"] == "se"].set_index(["model", "manifold"])["value"]

    def fmt(model: str, family: str, value: float) -> str:
        se = ses.get((model, family))
        return f"{model} ({value:.2f}" + (f" ± {se:.2f}" if se is not None else "") + ")"

    states = dict(states or {})
    said = []
    for family, group in means.groupby("manifold", sort=False):
        # a (near-)collapsed model barely moves under any augmentation: not "most invariant"
        excluded = [str(m) for m in group["model"] if str(m) in states]
        group = group[~group["model"].astype(str).isin(states)].sort_values("value")
        left = ("; " if len(group) else "") + "left out: " + ", ".join(
            f"{m} ({states[m]}: it looks invariant to any augmentation)" for m in excluded
        ) if excluded else ""  # fmt: skip
        if group.empty:
            said.append(f"{family}: {left}")
            continue
        best = group.iloc[0]
        if len(group) == 1:
            level = "largely invariant" if best["value"] < 0.5 else "not invariant"
            said.append(f"{family}: {fmt(best['model'], family, best['value'])} is {level}{left}")
            continue
        worst = group.iloc[-1]
        said.append(f"{family}: most invariant {fmt(best['model'], family, best['value'])}, "
                    f"least {fmt(worst['model'], family, worst['value'])}{left}")  # fmt: skip
    note = ("" if not ses.empty else
            "; no standard errors (run with n_bootstrap to judge differences)")  # fmt: skip
    return ("Spread ratio (lower = more invariant; 0.5 = views move half a neighbour "
            "distance): " + "; ".join(said) + note + ".")  # fmt: skip


def _per_layer(profile: Any) -> Any:
    """The table with one ``model`` per row of a layer sweep: ``model@layer``.

    The invariance table, verdict and alpha warning then read each (model, layer) as a model of
    its own, never an average over layers.
    """
    t = profile.table
    if len(getattr(profile, "layers", [])) > 1:
        t = t.assign(model=t["model"].astype(str) + "@" + t["layer"].astype(str))
    return t


def _alpha_warning(t: Any) -> list[str]:
    """A warning for every model whose alpha fit is poor (R² below :data:`ALPHA_R2_WARN`)."""
    r2 = t[(t["metric"] == "alpha_r2") & (t["statistic"] == "value")]
    poor = r2[r2["value"] < ALPHA_R2_WARN]
    if poor.empty:
        return []
    pairs = zip(poor["model"], poor["value"], strict=True)
    names = ", ".join(f"{m} (R² = {v:.2f})" for m, v in pairs)
    return [f'<p class="note"><b>Warning:</b> the power law fits the eigenspectrum poorly for '
            f"{html.escape(names)}; their alpha describes no clean power-law decay, read it with "
            "care.</p>"]  # fmt: skip


def write_report(
    profile: Profile,
    path: str | Path,
    *,
    spectra: Mapping[str, Spectrum] | None = None,
    clusters: ClusterResult | None = None,
    transfer: TransferEvaluation | None = None,
    groupings: Mapping[str, Grouping] | None = None,
    scores: pd.DataFrame | pd.Series | None = None,
    title: str = "manifold report",
    notes: str | list[str] | None = None,
    files: str | list[str] | None = None,
    figure_dir: str | Path | None = None,
    command: str | None = None,
    similarity: SimilarityMatrix | None = None,
) -> Path:
    """Write a single self-contained HTML file summarising a :class:`~manifold.Profile`.

    Sections (HTML ids in :data:`SECTIONS`), each present when its input is: a per-model summary
    table of the semantic manifold (spectral metrics and the mean of per-point geometry
    metrics; one row per model and layer for a layer sweep), the metrics against depth when the
    profile sweeps several layers, invariance heat maps per family, eigenspectra with their
    alpha fits (``spectra``), the clustering of the models (``clusters``), the transfer
    predictions (``transfer``), the settings of each run, and the metrics that could not be
    computed with the reason.

    Args:
        profile: The profile to report.
        path: Output file (``.html``).
        spectra: Dict model name -> :class:`~manifold.Spectrum` for the eigenspectrum figure;
            default: the spectra the profile carries (:attr:`~manifold.Profile.spectra`, those
            its spectral metrics were read from); ``{}`` leaves the figure out.
        clusters: Optional :class:`~manifold.zoo.ClusterResult`.
        transfer: Optional :class:`~manifold.zoo.TransferEvaluation`.
        groupings: Optional ``{name: {model: group}}`` (e.g. ``method`` and ``recipe``): the
            clustering is compared with each, with permutation p-values and a verdict.
        scores: Optional DataFrame models × tasks (or a Series: one task): a metric × task
            correlation heat map in the transfer section, so only with ``transfer`` and at
            least four models (models outside ``scores`` are left out of it, e.g. controls).
        title: Page title.
        notes: Extra lines shown under the title (one line: a string).
        files: Names of table files written beside the report, listed (and linked) at the end
            (one file: a string).
        figure_dir: When given, every figure is also saved there as a PNG.
        command: The command that wrote this report, shown in its header (default: the
            commands recorded in the profile's settings); the profile's own commands, when
            others, are shown as the source of the profiles.
        similarity: Optional :class:`~manifold.zoo.SimilarityMatrix` of the profiled models
            (:func:`~manifold.similarity_matrix` on the same images): a heat map in dendrogram
            order beside the clustering by metric profiles.

    Returns:
        The path written.

    Examples:
        >>> import tempfile, torch
        >>> from manifold import profile
        >>> prof = profile(torch.randn(60, 8), k=5, name="gaussian", progress=False)
        >>> out = write_report(prof, tempfile.mkdtemp() + "/report.html")
        >>> 'id="summary"' in out.read_text()
        True
    """
    from manifold._checks import check_names

    path = Path(path)
    notes = [] if notes is None else check_names(notes, "notes")
    files = [] if files is None else check_names(files, "files")
    fig_dir = Path(figure_dir) if figure_dir is not None else None
    if spectra is None:
        spectra = {m: s for m, s in profile.spectra.items() if m in profile.models}
    states = collapsed_models(profile)
    # (section id or None for an unlisted part, its HTML lines); empty parts are left out
    sections: list[tuple[str | None, list[str]]] = [
        ("summary", _summary_section(profile, states)),
        (None, _guide_section(profile)),
        ("layers", _layers_section(profile, fig_dir)),
        ("invariance", _invariance_section(profile, states, fig_dir)),
        ("spectra", _spectra_section(spectra, fig_dir)),
        ("clusters", [] if clusters is None else _clusters_html(clusters, fig_dir, groupings)),
        ("similarity",
         [] if similarity is None else _similarity_html(similarity, fig_dir, groupings)),
        ("transfer", [] if transfer is None else _transfer_html(transfer, fig_dir, profile,
                                                                 scores)),
        ("settings", _settings_section(profile)),
        ("failures", _failures_section(profile)),
        ("files", _files_section(files)),
    ]  # fmt: skip
    body = [line for _, lines in sections for line in lines]
    present = [name for name, lines in sections if name is not None and lines]

    from manifold import __version__

    head = [f"<h1>{html.escape(title)}</h1>"]
    commands = sorted({s.get("command") for s in profile.settings.values() if s.get("command")})
    shown = [command] if command else commands
    made = f"manifold {__version__}" + (f"; command: {' | '.join(shown)}" if shown else "")
    head.append(f'<p class="note" id="version">{html.escape(made)}</p>')
    sources = [c for c in commands if c != command] if command else []
    if sources:
        head.append(f'<p class="note" id="sources">profiles made by: '
                    f"{html.escape(' | '.join(sources))}</p>")  # fmt: skip
    for line in notes or []:
        head.append(f'<p class="note">{html.escape(line)}</p>')
    links = " ".join(f'<a href="#{s}">{html.escape(SECTIONS[s])}</a>' for s in present)
    head.append(f"<nav>{links}</nav>")

    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(head + body)
        + "</body></html>"
    )
    from manifold.io import atomic_write

    # a reader (or a rerun that fails half-way) never sees half a page
    atomic_write(path, lambda p: p.write_text(page, encoding="utf-8"))
    return path


def _summary_section(profile: Profile, states: Mapping[str, str]) -> list[str]:
    """The semantic summary table (one row per model, or per model and layer), with collapse."""
    from manifold.results import SEMANTIC

    t = profile.table
    semantic = t[(t["manifold"] == SEMANTIC) & t["statistic"].isin(["value", "mean"])]
    if semantic.empty:
        return []
    # a layer sweep: one summary row per (model, layer), never an average over layers
    rows_by = ["model", "layer"] if profile.layers else "model"
    summary = semantic.pivot_table(index=rows_by, columns="metric", values="value", sort=False)
    summary.columns.name = None  # one header row: the metric names
    unit = "one row per model and layer" if profile.layers else "one value per model"
    out = [
        _heading("summary"),
        f'<p class="note">Spectral metrics of the clean embeddings ({unit}) and '
        "the mean over points of the geometry metrics on the semantic NNK graph.</p>",
        _table_html(_mark_collapsed(summary, states, len(profile.layers) > 1)),
    ]
    note = _collapse_note(states, _per_layer(profile))
    if note:
        out.append(f'<p class="note"><b>Collapse.</b> {html.escape(note)}</p>')
    out.extend(_alpha_warning(_per_layer(profile)))
    return out


def _guide_section(profile: Profile) -> list[str]:
    """A folded table: the unit and direction of every metric the profile has."""
    guide = [m for m in METRIC_GUIDE if m in set(profile.table["metric"])]
    if not guide:
        return []
    import pandas as pd

    table = pd.DataFrame(
        [METRIC_GUIDE[m] for m in guide], index=guide, columns=["unit", "how to read it"]
    )
    table.index.name = "metric"
    return [
        '<details><summary class="note">Units and direction of every metric</summary>'
        + _table_html(table)
        + "</details>"
    ]


def _layers_section(profile: Profile, fig_dir: Path | None) -> list[str]:
    """The metrics against depth, for a profile that sweeps several layers."""
    if len(profile.layers) <= 1:
        return []
    from manifold.plot import plot_layers
    from manifold.results import SEMANTIC

    t = profile.table
    out = [
        _heading("layers"),
        f'<p class="note">{len(profile.layers)} layers, one line per model; error bars are '
        "bootstrap standard errors where the profile has them (n_bootstrap).</p>",
        '<div class="figs">',
    ]
    for metric in LAYER_FIGURES:
        if ((t["metric"] == metric) & (t["manifold"] == SEMANTIC)).any():
            fig = plot_layers(profile, metric)
            out.append(_figure_html(fig, f"{metric} across layers", f"layers_{metric}", fig_dir))
    out.append("</div>")
    return out


def _invariance_section(
    profile: Profile, states: Mapping[str, str], fig_dir: Path | None
) -> list[str]:
    """Heat maps (or, for one model, a table) of the invariance metrics, and their verdict."""
    from manifold.plot import plot_invariance
    from manifold.results import SEMANTIC

    t = profile.table
    families = [m for m in dict.fromkeys(t["manifold"]) if m != SEMANTIC]
    if not families:
        return []
    out = [
        _heading("invariance"),
        '<p class="note">One heat map per invariance metric: models (rows) × augmentation '
        "families (columns).</p>",
    ]
    shown = [m for m in INVARIANCE_FIGURES
             if ((t["metric"] == m) & (t["manifold"] != SEMANTIC)).any()]  # fmt: skip
    rows = _per_layer(profile)  # a layer sweep: each (model, layer) is a row of the maps
    n_rows = rows["model"].nunique()
    if n_rows == 1:
        # a one-row heat map says less than the numbers: a table of families × metrics
        out.append(_table_html(_invariance_table(t, shown)))
    else:
        # heat maps of many models are tall: one per row keeps their labels readable
        wide = " wide" if n_rows > 10 else ""
        out.append(f'<div class="figs{wide}">')
        for metric in shown:
            fig = plot_invariance(profile, metric)
            out.append(_figure_html(fig, metric, f"invariance_{metric}", fig_dir))
        out.append("</div>")
    verdict = _invariance_verdict(rows, families, states)
    if verdict:
        out.append(f"<p><b>Verdict.</b> {html.escape(verdict)}</p>")
    return out


def _spectra_section(spectra: Mapping[str, Spectrum], fig_dir: Path | None) -> list[str]:
    """The eigenspectra with their alpha fits; collapsed models are named, not drawn."""
    if not spectra:
        return []
    from manifold.plot import plot_spectrum

    out = [_heading("spectra")]
    empty = [m for m, spec in spectra.items()
             if not (np.asarray(spec.eigenvalues, dtype=float) > 0).any()]  # fmt: skip
    drawn = {m: spec for m, spec in spectra.items() if m not in empty}
    if drawn:
        out.append(_figure_html(plot_spectrum(drawn), "eigenspectra", "spectra", fig_dir))
    if empty:
        out.append(
            f'<p class="note">Not drawn: {html.escape(", ".join(map(str, empty)))}: no '
            "positive covariance eigenvalue (collapsed: every image has the same "
            "embedding), so there is no spectrum to draw on a log scale.</p>"
        )
    return out


def _settings_section(profile: Profile) -> list[str]:
    """The settings every model shares, and those that differ (always a section)."""
    out = [_heading("settings")]
    if profile.settings:
        shared, differing = _settings_tables(profile.settings)
        if differing is not None:
            out.append('<p class="note">Settings that differ between the models:</p>')
            out.append(_table_html(differing, wrap=False))
        if len(profile.settings) > 1:
            out.append('<p class="note">Settings of every model:</p>')
        out.append(_table_html(shared, wrap=False))
    return out


def _failures_section(profile: Profile) -> list[str]:
    """Every part that could not be computed, with the reason."""
    if not profile.failures:
        return []
    out = [_heading("failures") + "<ul>"]
    for f in profile.failures:
        where = f" @ {f['layer']}" if f.get("layer") is not None else ""
        out.append(
            f"<li>{html.escape(str(f['model']) + where)} / "
            f"{html.escape(str(f['manifold']))} / "
            f"{html.escape(str(f['metric']))}: {html.escape(str(f['error']))}</li>"
        )
    out.append("</ul>")
    return out


def _files_section(files: list[str]) -> list[str]:
    """Links to the files written beside the report."""
    if not files:
        return []
    out = [_heading("files") + "<ul>"]
    out.extend(f'<li><a href="{html.escape(name)}">{html.escape(name)}</a></li>' for name in files)
    out.append("</ul>")
    return out
