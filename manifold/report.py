"""A self-contained HTML report of one or more profiles (figures embedded as PNG)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } .note { color: #666; font-size: 13px; }
"""


def _figure_html(fig: Any, alt: str) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def write_report(
    profile: Any,
    path: str | Path,
    *,
    spectra: dict[str, Any] | None = None,
    title: str = "manifold report",
    notes: list[str] | None = None,
) -> Path:
    """Write a single HTML file summarising a :class:`~manifold.Profile`.

    Sections: settings, a per-model summary table (semantic metrics), invariance heat maps per
    family, eigenspectra with their alpha fits (when ``spectra`` is given), and any metrics
    that could not be computed with the reason.

    Args:
        profile: The profile to report.
        path: Output file (``.html``).
        spectra: Optional dict model name -> :class:`~manifold.Spectrum` for the eigenspectrum
            figure.
        title: Page title.
        notes: Extra lines shown under the title.

    Returns:
        The path written.
    """
    from manifold.plot import plot_invariance, plot_spectrum
    from manifold.profiling import SEMANTIC

    path = Path(path)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for line in notes or []:
        parts.append(f'<p class="note">{html.escape(line)}</p>')

    t = profile.table
    semantic = t[(t["manifold"] == SEMANTIC) & t["statistic"].isin(["value", "mean"])]
    if not semantic.empty:
        summary = semantic.pivot_table(index="model", columns="metric", values="value", sort=False)
        parts.append("<h2>Semantic manifold</h2>")
        parts.append(
            '<p class="note">Spectral metrics of the clean embeddings and the mean of per-point '
            "geometry metrics on the NNK graph.</p>"
        )
        parts.append(summary.to_html(float_format=lambda v: f"{v:.4g}", border=0))

    families = [m for m in dict.fromkeys(t["manifold"]) if m != SEMANTIC]
    if families:
        parts.append("<h2>Augmentation invariance</h2>")
        for metric in ("spread_ratio", "same_source_rate", "augmentation_dimension", "lidar"):
            if (t["metric"] == metric).any():
                parts.append(_figure_html(plot_invariance(profile, metric), metric))

    if spectra:
        parts.append("<h2>Eigenspectra</h2>")
        parts.append(_figure_html(plot_spectrum(spectra), "eigenspectra"))

    parts.append("<h2>Settings</h2>")
    for model, settings in profile.settings.items():
        items = ", ".join(f"{k}={v}" for k, v in settings.items())
        parts.append(f"<p><b>{html.escape(model)}</b>: {html.escape(items)}</p>")

    if profile.failures:
        parts.append("<h2>Metrics not computed</h2><ul>")
        for f in profile.failures:
            parts.append(
                f"<li>{html.escape(f['model'])} / {html.escape(f['manifold'])} / "
                f"{html.escape(f['metric'])}: {html.escape(f['error'])}</li>"
            )
        parts.append("</ul>")

    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
