"""Every plot function on small data: valid SVG with a size, its title, and no link out."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from src.reporting import plots, quant

Y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0])
P = np.linspace(0.9, 0.05, len(Y))


def svg_size(svg: str) -> tuple[float, float]:
    root = ET.fromstring(svg)  # well-formed XML or it raises
    assert root.tag.endswith("svg")
    return float(root.get("width", "0").removesuffix("pt")), float(
        root.get("height", "0").removesuffix("pt")
    )


def external_links(svg: str) -> list[str]:
    namespaces = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    return [u for u in re.findall(r"https?://[^\"'\s)<]+", svg) if u not in namespaces]


def drawings() -> dict[str, tuple[str, str]]:
    roc = quant.roc_points(Y, P)
    pr = quant.pr_points(Y, P)
    ks = quant.ks_curve(Y, P)
    bins = quant.reliability_bins(Y, P, bins=4)
    deciles = quant.decile_table(Y, P, groups=4)
    day = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return {
        "roc": ("ROC curve", plots.roc_plot(**{k: roc[k] for k in ("fpr", "tpr", "auc", "gini")})),
        "pr": (
            "Precision-recall",
            plots.pr_plot(
                **{k: pr[k] for k in ("recall", "precision", "average_precision", "base_rate")}
            ),
        ),
        "ks": (
            "KS curve",
            plots.ks_plot(
                **{
                    k: ks[k]
                    for k in (
                        "population_share",
                        "cum_bad",
                        "cum_good",
                        "ks",
                        "ks_population_share",
                    )
                }
            ),
        ),
        "reliability": (
            "Reliability",
            plots.reliability_plot(
                mean_predicted=[b["mean_predicted"] for b in bins],
                observed_rate=[b["observed_rate"] for b in bins],
                ece=0.1,
            ),
        ),
        "confusion": (
            "Confusion matrix",
            plots.confusion_plot(**quant.confusion(Y, P, threshold=0.5), threshold=0.5),
        ),
        "scores": (
            "Score distribution",
            plots.score_distribution_plot(**quant.score_histogram(Y, P, bins=5), threshold=0.5),
        ),
        "lift": (
            "Lift and capture",
            plots.lift_plot(
                deciles=[d["decile"] for d in deciles],
                lift=[d["lift"] for d in deciles],
                capture=[d["cum_bad_capture"] for d in deciles],
            ),
        ),
        "line": (
            "PSI over time",
            plots.line_chart(
                series={"score PSI": ([day, day + dt.timedelta(days=1)], [0.02, 0.3])},
                title="PSI over time",
                ylabel="PSI",
            ),
        ),
    }


@pytest.mark.parametrize("name", sorted(drawings()))
def test_each_plot_is_a_sized_svg_with_its_title_and_no_external_link(name: str) -> None:
    title, svg = drawings()[name]
    width, height = svg_size(svg)
    assert width > 0 and height > 0
    assert title in svg  # text stays text (svg.fonttype none)
    assert external_links(svg) == []
    assert "<script" not in svg


def test_the_numbers_drawn_are_labelled_on_the_plot() -> None:
    roc = quant.roc_points(Y, P)
    svg = plots.roc_plot(**{k: roc[k] for k in ("fpr", "tpr", "auc", "gini")})
    assert f"AUC {roc['auc']:.3f}" in svg
    assert f"Gini {roc['gini']:.3f}" in svg


def test_the_same_numbers_give_the_same_bytes() -> None:
    assert drawings()["roc"][1] == drawings()["roc"][1]
