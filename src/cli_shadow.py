"""``loan-default shadow`` and ``shadow-report``: run a challenger in the shadow, and judge it.

``shadow VERSION`` stores the choice in the database, so every API replica's poller picks it
up within ``MODEL_POLL_INTERVAL_SECONDS`` (no restart); ``shadow --stop`` withdraws it.
``shadow-report`` prints the live agreement of the shadow with the champion (docs/shadow.md).
"""

from __future__ import annotations

import argparse
from typing import Any

from src.cli_monitoring import _timestamp
from src.cli_output import console, emit_json


def add_shadow_parsers(sub: Any) -> None:
    shadow = sub.add_parser(
        "shadow",
        help="score live traffic also with VERSION, off the request path (never answering)",
    )
    shadow.add_argument("model_version", nargs="?", help="the challenger to shadow-score with")
    shadow.add_argument("--stop", action="store_true", help="withdraw the line's named shadow")
    shadow.add_argument("--source", help="model line for --stop (default: DATA_SOURCE)")
    report = sub.add_parser(
        "shadow-report", help="live agreement of the shadow model with the champion"
    )
    report.add_argument(
        "model_version", nargs="?", help="default: the named shadow, else the newest candidate"
    )
    report.add_argument("--source", help="model line (default: DATA_SOURCE or the only one)")
    report.add_argument("--since", type=_timestamp, help="only shadow scores since this UTC time")
    report.add_argument("--json", action="store_true", help="machine-readable output")


def _shadow(args: argparse.Namespace) -> None:
    from src.pipeline.shadow import name_shadow, stop_shadow

    if args.stop == bool(args.model_version):
        raise ValueError("name a model version to shadow, or --stop (not both)")
    if args.stop:
        previous = stop_shadow(source=args.source)
        console.print(
            f"shadow {previous} withdrawn" if previous else "no shadow was named", highlight=False
        )
        return
    line = name_shadow(model_version=args.model_version)
    console.print(
        f"{args.model_version} is the shadow of model line {line!r}: API servers load it at "
        "their next poll and score SHADOW_SHARE of the traffic with it",
        highlight=False,
    )


def _shadow_report(args: argparse.Namespace) -> None:
    from src.pipeline.shadow import shadow_report

    report = shadow_report(model_version=args.model_version, source=args.source, since=args.since)
    if args.json:
        emit_json(report)
        return
    for line in describe(report):
        console.print(line, highlight=False, soft_wrap=True)


def _num(value: Any, fmt: str = ".4f") -> str:
    return "—" if value is None else format(value, fmt)


def describe(report: dict[str, Any]) -> list[str]:
    """The report as a few readable lines (also printed by ``deploy``)."""
    lines = [
        f"shadow {report['shadow_version']} vs champion {report['champion_version']}: "
        f"{report.get('n_pairs', 0)} paired scores ({report['n_shadow_scored']} shadow-scored"
        + (f", SHADOW_MIN_SAMPLES={report['min_samples']}" if report["min_samples"] else "")
        + ")"
    ]
    if report.get("note"):
        return [*lines, f"  {report['note']}"]
    if report.get("n_pairs"):
        lines.append(
            f"  score correlation {_num(report['pearson'])} (rank {_num(report['spearman'])}), "
            f"PSI {_num(report['score_psi'])}, mean score {_num(report['mean_champion_score'])}"
            f" -> {_num(report['mean_shadow_score'])}"
        )
        lines.append(
            f"  decisions that would flip: {_num(report['flip_share'], '.2%')} "
            f"(approve->decline {_num(report['approve_to_decline'], '.2%')}, "
            f"decline->approve {_num(report['decline_to_approve'], '.2%')})"
        )
    realised = report.get("realised")
    if realised:
        for role in ("champion", "shadow"):
            m = realised[role]
            lines.append(
                f"  realised on {report['n_labelled']} outcomes, {role}: roc_auc "
                f"{_num(m['roc_auc'])}, f1 {_num(m['f1_score'])}, brier {_num(m['brier_score'])}"
            )
    elif report.get("n_pairs"):
        lines.append("  no outcomes recorded yet for the shadowed applications")
    return lines


SHADOW_COMMANDS = {"shadow": _shadow, "shadow-report": _shadow_report}
