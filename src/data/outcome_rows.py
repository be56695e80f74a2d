"""Row checks for realised outcomes (pure): which rows of an input can be recorded, and why not.

Nothing here touches the database, so every rule about one input (a bad id, a missing label,
an unparseable date, one id given two different labels) is decided the same way on every
run and can be tested without PostgreSQL; comparing with what is already stored is
``src.pipeline.outcomes``' job.  Rejected rows are returned with a reason rather than
dropped: a lender's label must never disappear silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd

from src.data.application_ids import application_id_problem
from src.data.values import json_safe, label_texts, received_values

MAX_RAW_LABEL_LENGTH = 256  # outcomes.raw_label

# Quarantine reason kinds, the keys of the summary's per-reason counts.
MISSING_ID = "missing_id"
INVALID_ID = "invalid_id"
MISSING_LABEL = "missing_label"
INVALID_LABEL = "invalid_label"
INVALID_DATE = "invalid_date"
CONFLICT_IN_INPUT = "conflicting_labels_in_input"
CONFLICT_WITH_STORED = "conflicts_with_stored_label"


@dataclass(frozen=True)
class OutcomeRow:
    """One application's outcome as this input states it (its first row when repeated)."""

    application_id: str
    label: int  # 1 = the --positive value
    raw_label: str
    outcome_date: dt.date | None
    position: int  # its row in the input (for the record, should it be quarantined later)


@dataclass(frozen=True)
class Rejected:
    """A source row that is not recorded: its values (JSON-safe), why, and the reason kind."""

    application_id: str | None
    record: dict[str, Any]
    kind: str
    reason: str


@dataclass(frozen=True)
class CheckedOutcomes:
    outcomes: list[OutcomeRow]  # one per distinct, consistently labelled id, in input order
    rejected: list[Rejected]
    repeated: int  # further rows of an id with the same label (counted once)


def check_outcome_rows(
    frame: pd.DataFrame,
    *,
    id_column: str,
    target: str,
    positive: str,
    date_column: str | None = None,
) -> CheckedOutcomes:
    """Split ``frame`` into recordable outcomes and rejected rows with their reasons.

    The label is 1 where the target equals ``positive`` (compared as stripped text, so
    ``1``, ``1.0`` and ``"1"`` agree) and 0 for any other non-missing value.  An id given
    twice with the same label counts once; given with different labels, none of its rows is
    recorded, because which one is right cannot be told from the input.
    """
    ids = received_values(frame[id_column])
    labels = label_texts(frame[target])
    dates = received_values(frame[date_column]) if date_column else [None] * len(frame)
    positive = str(positive).strip()
    first: dict[str, tuple[int, OutcomeRow]] = {}
    rows_of: defaultdict[str, list[int]] = defaultdict(list)
    rejected: list[Rejected] = []
    for i in range(len(frame)):
        app_id = None if ids[i] is None else str(ids[i])
        kind, reason = _row_problem(app_id, labels[i], dates[i], id_column, target, date_column)
        if kind is not None:
            rejected.append(Rejected(_storable_id(app_id), row_record(frame, i), kind, reason))
            continue
        assert app_id is not None and labels[i] is not None  # checked by _row_problem
        raw = str(labels[i])
        row = OutcomeRow(app_id, int(raw == positive), raw, _parse_date(dates[i]), i)
        rows_of[app_id].append(i)
        first.setdefault(app_id, (i, row))
    outcomes, repeated = [], 0
    for app_id, (_, row) in first.items():
        seen = Counter(str(labels[i]) for i in rows_of[app_id])
        if len(seen) == 1:
            outcomes.append(row)
            repeated += len(rows_of[app_id]) - 1
            continue
        reason = (
            f"application id {app_id!r} appears {len(rows_of[app_id])} times in this input "
            f"with different labels in column {target!r} ({sorted(seen)}); none of its rows "
            "was recorded"
        )
        rejected.extend(
            Rejected(app_id, row_record(frame, i), CONFLICT_IN_INPUT, reason)
            for i in rows_of[app_id]
        )
    return CheckedOutcomes(outcomes=outcomes, rejected=rejected, repeated=repeated)


def _row_problem(
    app_id: str | None,
    label: str | None,
    date: Any,
    id_column: str,
    target: str,
    date_column: str | None,
) -> tuple[str | None, str]:
    """The first reason a single row cannot be recorded (kind None: it can)."""
    if app_id is None or app_id == "":
        return MISSING_ID, f"missing application id in column {id_column!r}"
    problem = application_id_problem(app_id)
    if problem is not None:
        return INVALID_ID, f"application id in column {id_column!r} {problem}"
    if label is None:
        return MISSING_LABEL, f"missing label in column {target!r}"
    if len(label) > MAX_RAW_LABEL_LENGTH or "\x00" in label:
        return INVALID_LABEL, (
            f"label in column {target!r} is longer than {MAX_RAW_LABEL_LENGTH} characters "
            "or holds a NUL character"
        )
    blank = date is None or (isinstance(date, str) and not date.strip())
    if date_column is not None and not blank and _parse_date(date) is None:
        return INVALID_DATE, (
            f"unparseable outcome date {str(date)[:40]!r} in column {date_column!r} "
            "(expected an ISO date, YYYY-MM-DD)"
        )
    return None, ""


def _parse_date(value: Any) -> dt.date | None:
    """An ISO date (or date-time: its date) from a cell; None when missing or unparseable."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        return None


def _storable_id(app_id: str | None) -> str | None:
    """The id for the quarantine's indexed column: only when it fits (else it is in the record)."""
    return app_id if app_id and application_id_problem(app_id) is None else None


def row_record(frame: pd.DataFrame, i: int) -> dict[str, Any]:
    """Row ``i`` as received, made JSON-safe (what the quarantine keeps)."""
    return {str(c): json_safe(v) for c, v in frame.iloc[i].items()}


def fingerprint(rejected: Rejected, occurrence: int) -> str:
    """sha256 of the row, its reason and its occurrence among identical rows of this input.

    The same input quarantined twice yields the same fingerprints (a re-run adds nothing),
    while two identical rejected rows of one input stay two quarantine rows.
    """
    text = json.dumps([rejected.record, rejected.reason, occurrence], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()


def with_fingerprints(rejected: list[Rejected]) -> list[tuple[Rejected, str]]:
    """Each rejected row with its fingerprint (identical rows numbered in input order)."""
    seen: Counter[str] = Counter()
    out = []
    for row in rejected:
        key = json.dumps([row.record, row.reason], sort_keys=True, default=str)
        out.append((row, fingerprint(row, seen[key])))
        seen[key] += 1
    return out
