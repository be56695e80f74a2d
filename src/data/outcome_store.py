"""Writes of realised outcomes: insert new ids, compare the rest, quarantine what conflicts.

Every write is safe to repeat and to race: outcomes are inserted with INSERT ... ON CONFLICT
DO NOTHING on the unique ``application_id`` (ids another run stored meanwhile are compared
again, never dropped), label updates apply only while the label still differs, and
quarantine rows are keyed by their fingerprint.  ``src.pipeline.outcomes`` orders these.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd
from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from src.data.outcome_rows import (
    CONFLICT_WITH_STORED,
    OutcomeRow,
    Rejected,
    row_record,
    with_fingerprints,
)
from src.data.storage import insert_ignore
from src.data.tables import Outcome, OutcomeQuarantine, Prediction, utcnow

IN_CHUNK = 5_000  # ids per IN (...) list: SQLite caps bound parameters per statement
MAX_PASSES = 3  # read-compare-insert rounds; a second is needed only after losing a race


def store_outcomes(
    conn: Connection,
    frame: pd.DataFrame,
    outcomes: list[OutcomeRow],
    *,
    origin: str,
    allow_update: bool,
) -> tuple[Counter[str], list[Rejected]]:
    """Insert new ids, leave same labels, update or quarantine different ones.

    Ids a concurrent run inserted after our read come back from ON CONFLICT DO NOTHING
    unreturned; they are compared once more with what that run committed.
    """
    counts: Counter[str] = Counter(inserted=0, unchanged=0, updated=0)
    conflicts: list[Rejected] = []
    pending = outcomes
    for _ in range(MAX_PASSES):
        if not pending:
            break
        stored = _stored(conn, [o.application_id for o in pending])
        new = [o for o in pending if o.application_id not in stored]
        for o in pending:
            if o.application_id not in stored:
                continue
            label, raw, was_from = stored[o.application_id]
            if label == o.label:
                counts["unchanged"] += 1
            elif allow_update:
                counts["updated"] += _update(conn, o, origin)
            else:
                conflicts.append(_conflict(frame, o, label, raw, was_from))
        inserted = _insert(conn, new, origin)
        counts["inserted"] += len(inserted)
        # Only ids another run stored meanwhile remain, and the next read sees them.
        pending = [o for o in new if o.application_id not in inserted]
    if pending:  # an id that neither inserts nor reads back: a bug or a deleted row, not data
        raise RuntimeError(f"{len(pending)} outcomes neither inserted nor found, e.g. {pending[0]}")
    return counts, conflicts


def _stored(conn: Connection, ids: list[str]) -> dict[str, tuple[int, str, str]]:
    out: dict[str, tuple[int, str, str]] = {}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        query = select(Outcome.application_id, Outcome.label, Outcome.raw_label, Outcome.origin)
        for app_id, label, raw, origin in conn.execute(
            query.where(Outcome.application_id.in_(chunk))
        ):
            out[app_id] = (label, raw, origin)
    return out


def _insert(conn: Connection, rows: list[OutcomeRow], origin: str) -> set[str]:
    """INSERT ... ON CONFLICT (application_id) DO NOTHING; returns the ids actually inserted."""
    if not rows:
        return set()
    now = utcnow()
    params = [
        {
            "application_id": o.application_id,
            "label": o.label,
            "raw_label": o.raw_label,
            "outcome_date": o.outcome_date,
            "origin": origin,
            "recorded_at": now,  # explicit: SQLite has no server-side timezone-aware default
        }
        for o in rows
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Outcome).on_conflict_do_nothing(index_elements=["application_id"])
    return set(conn.scalars(stmt.returning(Outcome.application_id), params).all())


def _update(conn: Connection, o: OutcomeRow, origin: str) -> int:
    """Replace a stored outcome's label (only if still different: a racing run may have)."""
    stmt = (
        update(Outcome)
        .where(Outcome.application_id == o.application_id, Outcome.label != o.label)
        .values(
            label=o.label,
            raw_label=o.raw_label,
            outcome_date=o.outcome_date,
            origin=origin,
            updated_at=utcnow(),
        )
    )
    return int(conn.execute(stmt).rowcount or 0)


def _conflict(frame: pd.DataFrame, o: OutcomeRow, label: int, raw: str, was_from: str) -> Rejected:
    reason = (
        f"label {o.label} (raw {o.raw_label!r}) differs from the stored label {label} "
        f"(raw {raw!r}, recorded from {was_from}); rerun with --allow-update to replace it"
    )
    record = row_record(frame, o.position)
    return Rejected(o.application_id, record, CONFLICT_WITH_STORED, reason)


def ids_without_predictions(conn: Connection, ids: list[str]) -> list[str]:
    """The ids (input order) that no logged prediction carries."""
    found: set[str] = set()
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        query = select(Prediction.application_id).where(Prediction.application_id.in_(chunk))
        found.update(conn.scalars(query.distinct()))
    return [i for i in ids if i not in found]


def store_rejected(conn: Connection, rejected: list[Rejected], *, origin: str) -> int:
    """Rejected rows -> outcome_quarantine; returns how many are new (0 on a re-run)."""
    rows = [
        {
            "application_id": row.application_id,
            "record": row.record,
            "reason": row.reason,
            "origin": origin,
            "fingerprint": fp,
            "created_at": utcnow(),
        }
        for row, fp in with_fingerprints(rejected)
    ]
    return insert_ignore(conn, OutcomeQuarantine, rows, ["fingerprint"])
