"""Cards and registry listings -> self-contained HTML (Jinja2 templates, inline SVG plots).

The page carries its own Content-Security-Policy: no script, no font, no request for
anything, images only from ``data:`` URIs.  A report saved to disk, mailed or archived
therefore renders the same offline, and a browser proves it fetched nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from src.data.monitoring_tables import SCORE
from src.reporting import plots

TEMPLATES = Path(__file__).with_name("templates")
PAGE_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'"
# The HTTP header adds what a <meta> policy may not carry (the browser ignores it there).
CONTENT_SECURITY_POLICY = PAGE_POLICY + "; form-action 'none'; frame-ancestors 'none'"
BLANK = "\u2013"  # an en dash for a value that does not exist
DRIFT_FEATURES_SHOWN = 8  # CSI lines beyond this make a chart unreadable; the table has all


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["pct"] = lambda v: BLANK if v is None else f"{v:.1%}"
    env.filters["signed"] = lambda v: BLANK if v is None else f"{v:+.4f}"
    env.globals["csp"] = PAGE_POLICY
    env.globals["css"] = (TEMPLATES / "style.css").read_text()
    return env


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return BLANK
    if isinstance(value, bool | int):
        return str(value)
    return f"{value:.{digits}f}"


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def card_plots(card: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``{name: {"title", "src"}}``: every plot the card's numbers allow, as data URIs."""
    found: dict[str, tuple[str, str]] = {}
    disc, decisions = card["discrimination"], card["decisions"]
    if disc["roc"]:
        roc = disc["roc"]
        found["roc"] = (
            "ROC curve",
            plots.roc_plot(**{k: roc[k] for k in ("fpr", "tpr", "auc", "gini")}),
        )
    if disc["pr"]:
        pr = disc["pr"]
        keys = ("recall", "precision", "average_precision", "base_rate")
        found["pr"] = ("Precision-recall curve", plots.pr_plot(**{k: pr[k] for k in keys}))
    if disc["ks"]:
        ks = disc["ks"]
        ks_keys = ("population_share", "cum_bad", "cum_good", "ks", "ks_population_share")
        found["ks"] = ("KS curve", plots.ks_plot(**{k: ks[k] for k in ks_keys}))
    bins = card["calibration"]["reliability"]
    found["reliability"] = (
        "Reliability diagram",
        plots.reliability_plot(
            mean_predicted=[b["mean_predicted"] for b in bins],
            observed_rate=[b["observed_rate"] for b in bins],
            ece=card["calibration"]["ece"] or 0.0,
        ),
    )
    found["confusion"] = (
        "Confusion matrix",
        plots.confusion_plot(**decisions["confusion"], threshold=decisions["threshold"]),
    )
    found["scores"] = (
        "Score distribution",
        plots.score_distribution_plot(**decisions["histogram"], threshold=decisions["threshold"]),
    )
    deciles = decisions["deciles"]
    found["lift"] = (
        "Lift by decile",
        plots.lift_plot(
            deciles=[d["decile"] for d in deciles],
            lift=[d["lift"] or 0.0 for d in deciles],
            capture=[d["cum_bad_capture"] or 0.0 for d in deciles],
        ),
    )
    found |= _over_time_plots(card["over_time"])
    return {name: {"title": title, "src": _data_uri(svg)} for name, (title, svg) in found.items()}


def _over_time_plots(over_time: dict[str, Any]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    performance: dict[str, tuple[list[Any], list[float]]] = defaultdict(lambda: ([], []))
    for row in over_time["performance"]:
        kind = "estimated" if row["estimated"] else "realised"
        for metric in ("f1_score", "roc_auc"):
            if row[metric] is not None:
                xs, ys = performance[f"{metric} {kind} ({row['population']})"]
                xs.append(dt.datetime.fromisoformat(row["at"]))
                ys.append(row[metric])
    if performance:
        chart = plots.line_chart(series=performance, title="Performance over time", ylabel="value")
        found["performance"] = ("Performance over time", chart)
    drift: dict[str, tuple[list[Any], list[float]]] = defaultdict(lambda: ([], []))
    latest: dict[str, float] = {}
    for row in over_time["drift"]:
        if row["psi"] is None:
            continue
        name = "score PSI" if row["feature"] == SCORE else f"CSI {row['feature']}"
        name = f"{name} ({row['population']})"
        xs, ys = drift[name]
        xs.append(dt.datetime.fromisoformat(row["at"]))
        ys.append(row["psi"])
        latest[name] = row["psi"]
    if drift:
        shown = sorted(latest, key=lambda n: (not n.startswith("score"), -latest[n]))
        series = {name: drift[name] for name in shown[:DRIFT_FEATURES_SHOWN]}
        chart = plots.line_chart(series=series, title="PSI / CSI over time", ylabel="PSI")
        found["drift"] = ("Score PSI and feature CSI over time", chart)
    return found


def render_report(card: dict[str, Any]) -> str:
    return _environment().get_template("report.html").render(card=card, plots=card_plots(card))


def render_registry(rows: list[dict[str, Any]], *, generated_at: str) -> str:
    return _environment().get_template("models.html").render(rows=rows, generated_at=generated_at)
