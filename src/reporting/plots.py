"""Every plot of the model report: one function per plot, plain numbers in, SVG text out.

matplotlib's object API (``Figure``, no ``pyplot``) keeps no global state, so API worker
threads can draw concurrently; the Agg backend is forced so nothing ever looks for a
display.  Text stays text in the SVG (``svg.fonttype = none``): smaller files, and the
browser's own sans-serif font, so nothing is fetched.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context
from matplotlib.figure import Figure

STYLE: dict[Any, Any] = {  # Any keys: matplotlib types them as a Literal of every rcParam
    "svg.fonttype": "none",
    "svg.hashsalt": "loan-default-report",  # stable ids: the same card gives the same bytes
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
SIZE = (4.8, 3.4)  # inches: two plots side by side fit a laptop screen
BAD, GOOD, NEUTRAL = "#c0392b", "#2471a3", "#7f8c8d"


def _svg(fig: Figure, *, left: float = 0.13, right: float = 0.97, bottom: float = 0.14) -> str:
    # Fixed margins: tight_layout measures every text and costs ~0.1 s a plot.
    fig.subplots_adjust(left=left, right=right, bottom=bottom, top=0.91)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)  # RDF namespace URLs
    return text[text.index("<svg") :]  # drop the XML prolog and doctype


def _figure() -> tuple[Figure, Any]:
    fig = Figure(figsize=SIZE)
    return fig, fig.add_subplot()


def roc_plot(*, fpr: Sequence[float], tpr: Sequence[float], auc: float, gini: float) -> str:
    with rc_context(STYLE):
        fig, ax = _figure()
        ax.plot(fpr, tpr, color=BAD, label=f"AUC {auc:.3f} · Gini {gini:.3f}")
        ax.plot([0, 1], [0, 1], color=NEUTRAL, linestyle="--", linewidth=0.8, label="chance")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
        ax.legend(loc="lower right")
        return _svg(fig)


def pr_plot(
    *,
    recall: Sequence[float],
    precision: Sequence[float],
    average_precision: float,
    base_rate: float,
) -> str:
    with rc_context(STYLE):
        fig, ax = _figure()
        ax.plot(recall, precision, color=BAD, label=f"average precision {average_precision:.3f}")
        ax.axhline(base_rate, color=NEUTRAL, linestyle="--", linewidth=0.8, label="base rate")
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve", ylim=(0, 1.02))
        ax.legend(loc="upper right")
        return _svg(fig)


def ks_plot(
    *,
    ks: float,
    ks_population_share: float,
    population_share: Sequence[float],
    cum_bad: Sequence[float],
    cum_good: Sequence[float],
) -> str:
    with rc_context(STYLE):
        fig, ax = _figure()
        ax.plot(population_share, cum_bad, color=BAD, label="bads (cumulative share)")
        ax.plot(population_share, cum_good, color=GOOD, label="goods (cumulative share)")
        ax.axvline(ks_population_share, color=NEUTRAL, linestyle=":", label=f"KS {ks:.3f}")
        ax.set(xlabel="share of applications, riskiest first", ylabel="cumulative share")
        ax.set_title("KS curve")
        ax.legend(loc="lower right")
        return _svg(fig)


def reliability_plot(
    *, mean_predicted: Sequence[float], observed_rate: Sequence[float], ece: float
) -> str:
    with rc_context(STYLE):
        fig, ax = _figure()
        top = max([*mean_predicted, *observed_rate, 0.05]) * 1.05
        ax.plot([0, top], [0, top], color=NEUTRAL, linestyle="--", linewidth=0.8, label="ideal")
        ax.plot(mean_predicted, observed_rate, "o-", color=BAD, label=f"model (ECE {ece:.3f})")
        ax.set(xlabel="mean predicted probability", ylabel="observed default rate")
        ax.set(xlim=(0, top), ylim=(0, top), title="Reliability (equal-mass bins)")
        ax.legend(loc="upper left")
        return _svg(fig)


def confusion_plot(*, tn: int, fp: int, fn: int, tp: int, threshold: float) -> str:
    with rc_context({**STYLE, "axes.grid": False}):
        fig, ax = _figure()
        cells = [[tn, fp], [fn, tp]]
        ax.imshow(cells, cmap="Blues")
        peak = max(tn, fp, fn, tp, 1)
        for i in range(2):
            for j in range(2):
                dark = cells[i][j] > peak / 2
                ax.text(
                    j,
                    i,
                    str(cells[i][j]),
                    ha="center",
                    va="center",
                    fontsize=12,
                    color="white" if dark else "black",
                )
        ax.set_xticks([0, 1], ["predicted good", "predicted bad"])
        ax.set_yticks([0, 1], ["actual good", "actual bad"])
        ax.set_title(f"Confusion matrix at threshold {threshold:.3f}")
        return _svg(fig, left=0.2)


def score_distribution_plot(
    *, edges: Sequence[float], good: Sequence[int], bad: Sequence[int], threshold: float
) -> str:
    with rc_context(STYLE):
        fig, ax = _figure()
        lefts, width = list(edges[:-1]), edges[1] - edges[0]
        for counts, colour, label in ((good, GOOD, "goods"), (bad, BAD, "bads")):
            total = max(sum(counts), 1)
            shares = [c / total for c in counts]
            ax.bar(lefts, shares, width=width, align="edge", color=colour, alpha=0.55, label=label)
        ax.axvline(threshold, color="black", linestyle="--", linewidth=0.8, label="threshold")
        ax.set(xlabel="predicted default probability", ylabel="share of the class")
        ax.set_title("Score distribution by class")
        ax.legend(loc="upper right")
        return _svg(fig)


def lift_plot(*, deciles: Sequence[int], lift: Sequence[float], capture: Sequence[float]) -> str:
    with rc_context(STYLE):
        fig, ax = _figure()
        ax.bar(deciles, lift, color=BAD, alpha=0.7, label="lift")
        ax.axhline(1.0, color=NEUTRAL, linestyle="--", linewidth=0.8)
        ax.set(xlabel="decile (1 = riskiest)", ylabel="lift", title="Lift and capture by decile")
        twin = ax.twinx()
        twin.plot(deciles, capture, "o-", color=GOOD, label="cumulative capture of bads")
        twin.set(ylabel="cumulative capture", ylim=(0, 1.05))
        ax.set_xticks(list(deciles))
        ax.legend(loc="upper center")
        twin.legend(loc="center right")
        return _svg(fig, right=0.87)


def line_chart(
    *, series: Mapping[str, tuple[Sequence[Any], Sequence[float]]], title: str, ylabel: str
) -> str:
    """One line per named series of (x values, y values); x may be datetimes."""
    with rc_context(STYLE):
        fig, ax = _figure()
        for name, (xs, ys) in series.items():
            ax.plot(xs, ys, "o-", markersize=3, label=name)
        ax.set(title=title, ylabel=ylabel)
        fig.autofmt_xdate()
        if series:
            ax.legend(loc="best", fontsize=7)
        return _svg(fig, bottom=0.22)
