"""The model card page's plots, drawn server-side by matplotlib (Agg) and embedded as SVG data URIs: no CDN, no JS.

Each function takes what the card, its held-out predictions or its causal profile hold and returns a data URI.
"""

from __future__ import annotations

import base64
import io
import logging
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a server; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from shared.depiction import STATUS_COLOURS  # noqa: E402

logger = logging.getLogger(__name__)
plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "figure.dpi": 96})


def data_uri(figure: Figure) -> str:
    out = io.StringIO()
    figure.savefig(out, format="svg", bbox_inches="tight")
    plt.close(figure)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue().encode()).decode()


def parity(measured: list[float], predicted: list[float], title: str) -> str:
    figure, axes = plt.subplots(figsize=(4.2, 4.0))
    axes.scatter(measured, predicted, s=10, alpha=0.6)
    low, high = min(measured + predicted) - 0.3, max(measured + predicted) + 0.3
    axes.plot([low, high], [low, high], color="grey", linewidth=1)
    axes.set(xlim=(low, high), ylim=(low, high), xlabel="measured pActivity", ylabel="predicted pActivity",
             title=title)
    return data_uri(figure)


def error_by_similarity(similarity: list[float], abs_error: list[float]) -> str:
    figure, axes = plt.subplots(figsize=(4.2, 4.0))
    axes.scatter(similarity, abs_error, s=10, alpha=0.6)
    axes.set(xlabel="nearest-neighbour Tanimoto to the training side", ylabel="|error| (pActivity)",
             title="Held-out error against similarity")
    return data_uri(figure)


def coverage_by_bin(bins: list[dict[str, Any]]) -> str:
    figure, axes = plt.subplots(figsize=(5.0, 3.4))
    labels = [f"{b['similarity_from']:.1f}-{b['similarity_to']:.1f}\nn={b['n']}" for b in bins]
    positions = range(len(bins))
    for offset, level in ((-0.2, "80"), (0.2, "90")):
        axes.bar([p + offset for p in positions], [b["coverage"][level] or 0 for b in bins], width=0.4,
                 label=f"{level}% interval")
        axes.axhline(int(level) / 100, linestyle="--", linewidth=0.8, color="grey")
    axes.set_xticks(list(positions), labels, fontsize=7)
    axes.set(ylim=(0, 1.05), ylabel="held-out coverage", xlabel="nearest-neighbour similarity bin",
             title="Interval coverage per similarity bin")
    axes.legend(loc="lower right", fontsize=7)
    return data_uri(figure)


def error_by_condition(conditions: list[tuple[str, float]]) -> str:
    figure, axes = plt.subplots(figsize=(5.0, 3.0))
    axes.barh([name for name, _ in conditions], [value for _, value in conditions], color="#1f77b4")
    axes.invert_yaxis()
    axes.set(xlabel="cross-validated MAE (pActivity)", title="Error where the verdict's conditions hold")
    return data_uri(figure)


# The verdict colours of the results page (base.html's .verdict-* classes).
VERDICT_COLOURS = {"supported": "#2ca02c", "caution": "#b8860b", "unsupported": "#d62728", "unknown": "#7f7f7f"}


def error_by_verdict(verdicts: list[dict[str, Any]], overall_mae: float | None) -> str:
    """Held-out MAE per served verdict (``{"verdict", "n", "mae"}`` each), n under each bar, overall MAE dashed."""
    figure, axes = plt.subplots(figsize=(5.0, 3.2))
    positions = range(len(verdicts))
    axes.bar(list(positions), [v["mae"] for v in verdicts], width=0.6,
             color=[VERDICT_COLOURS.get(v["verdict"], "black") for v in verdicts])
    if overall_mae is not None:
        axes.axhline(overall_mae, linestyle="--", linewidth=0.8, color="grey", label=f"all held out {overall_mae:.2f}")
        axes.legend(loc="upper left", fontsize=7)
    axes.set_xticks(list(positions), [f"{v['verdict']}\nn={v['n']}" for v in verdicts], fontsize=8)
    axes.set(ylabel="held-out MAE (pActivity)", title="Held-out error by verdict")
    return data_uri(figure)


def forest(effects: list[dict[str, Any]]) -> str:
    """Naive and adjusted effect of each substructure with its 95% interval, coloured by its status."""
    height = 0.9 + 0.32 * len(effects)
    figure, axes = plt.subplots(figsize=(6.4, height))
    for row, effect in enumerate(effects):
        for shift, key, marker in ((-0.15, "naive_effect", "o"), (0.15, "adjusted_effect", "s")):
            value = effect.get(key) or {}
            if value.get("value") is None:
                continue
            low, high = value.get("ci") or (value["value"], value["value"])
            colour = "grey" if key == "naive_effect" else STATUS_COLOURS.get(effect["status"], "black")
            axes.errorbar(value["value"], row + shift, xerr=[[value["value"] - low], [high - value["value"]]],
                          fmt=marker, color=colour, markersize=4, capsize=2, linewidth=1)
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(effects)), [f"{e.get('name') or e['smarts']} ({e['status']})" for e in effects],
                    fontsize=7)
    axes.invert_yaxis()
    axes.set(xlabel="effect on pActivity (95% CI): grey circle naive, square adjusted",
             title="Substructure effects")
    return data_uri(figure)
