"""Write-time rollup of logged answers' drift bin counts, and its exact use at read time.

Writing (``add_to_rollup``, PostgreSQL only): the prediction logger passes the answers a
flush inserted, with their ids; they are binned in Python with the model's reference profile
(``drift_counts``, the same bins as the SQL path, bin for bin) and added per model version
and hour to ``drift_rollup_buckets`` / ``drift_rollup_counts`` (one count vector per index) in
the same transaction.
A version without a profile yet is skipped: its hours are simply counted from the rows.

Reading (``rolled_up_counts``): an hour inside the window is taken from the rollup only when
its fingerprint (rows and sum of ids, binned with today's profile) equals that of the hour's
logged answers, checked in the same statement (one snapshot).  Everything else (the window's
partial first and last hours, hours logged by a writer that does not roll up, such as COPY or
an old replica, hours with deleted rows) is left to the caller to count from the rows, as the
``rest`` intervals.  So the rollup changes how long drift takes, never what it finds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from sqlalchemy import Connection, Table, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnClause

from src.data.drift_counts import count_numbers, count_values, empty_counts
from src.data.monitoring_tables import SCORE, ModelProfile
from src.data.rollup_tables import DriftRollupBucket, DriftRollupCount
from src.data.tables import CHAMPION

HOUR = dt.timedelta(hours=1)
# date_bin's origin: UTC hours, computed without a time zone lookup per row (date_trunc with
# 'UTC' converts every row and took most of the fingerprint scan's time).
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_ADDED = ("n_rows", "id_sum")
# Element-wise sum of the stored and the new count vector (same profile: same length).
_ADD_ARRAYS: ColumnClause[Any] = literal_column(
    "ARRAY(SELECT u.a + u.b FROM unnest(drift_rollup_counts.counts, excluded.counts) AS u(a, b))"
)
Entries = Mapping[str, Mapping[str, Any]]


def profile_entries(profile: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every index of a profile by name: its features, then the score."""
    return dict(profile["features"]) | {SCORE: profile["score"]}


def profile_digest(entries: Entries) -> str:
    """sha256 of the bins (canonical JSON): counts binned otherwise must never be mixed in."""
    canonical = json.dumps(entries, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def bucket_of(moment: dt.datetime) -> dt.datetime:
    """The UTC hour ``moment`` falls in (``date_bin('1 hour', created_at, EPOCH)``)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


# --------------------------------------------------------------------------- writing
def add_to_rollup(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Add inserted answers (``id``, ``model_version``, ``features``, ``probability``,
    ``created_at``, ``role``) to the rollup; returns how many rows were rolled up."""
    by_version: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("role", CHAMPION) == CHAMPION:
            by_version[str(row["model_version"])].append(row)
    if not by_version:
        return 0
    stmt = select(ModelProfile.model_version, ModelProfile.profile).where(
        ModelProfile.model_version.in_(sorted(by_version))
    )
    profiles = {version: profile for version, profile in conn.execute(stmt)}
    done = 0
    for version in sorted(by_version):  # one order in every writer: no upsert deadlocks
        if version in profiles:
            _add_version(conn, version, profile_entries(profiles[version]), by_version[version])
            done += len(by_version[version])
    return done


def _add_version(
    conn: Connection, version: str, entries: Entries, rows: list[Mapping[str, Any]]
) -> None:
    digest = profile_digest(entries)
    hours: dict[dt.datetime, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        hours[bucket_of(row["created_at"])].append(row)
    buckets: list[dict[str, Any]] = []
    counts: list[dict[str, Any]] = []
    for hour in sorted(hours):
        part = hours[hour]
        key = {"model_version": version, "bucket_start": hour, "profile_sha256": digest}
        ids = sum(int(r["id"]) for r in part)
        buckets.append(key | {"n_rows": len(part), "id_sum": ids})
        counts.extend(
            key | {"feature": name, "counts": _bin_counts(name, entries[name], part).tolist()}
            for name in sorted(entries)
        )
    buckets_table = cast(Table, DriftRollupBucket.__table__)
    stmt = pg_insert(buckets_table)
    _upsert(conn, stmt, buckets, {c: buckets_table.c[c] + stmt.excluded[c] for c in _ADDED})
    stmt = pg_insert(cast(Table, DriftRollupCount.__table__))
    _upsert(conn, stmt, counts, {"counts": _ADD_ARRAYS})


def _bin_counts(name: str, entry: Mapping[str, Any], rows: list[Mapping[str, Any]]) -> np.ndarray:
    """The bins the SQL path gives these rows (``drift_queries._sql_counts``), exactly."""
    if name == SCORE:  # float8 against float8 edges, in SQL too
        scores = np.fromiter((float(r["probability"]) for r in rows), dtype=np.float64)
        return count_numbers(entry, scores)
    if entry["kind"] == "numerical":
        entry = {**entry, "edges": sql_numeric_edges(entry["edges"])}
    return count_values(entry, (_features(r).get(name) for r in rows))


def sql_numeric_edges(edges: Sequence[float]) -> list[float]:
    """Edges as ``CAST(:edges AS numeric[])`` sees them: float8 to numeric keeps 15 digits.

    A JSON number's numeric is the exact decimal of its shortest repr, and that mapping keeps
    the order of floats; a decimal of at most 15 digits is that of the float nearest to it.
    So comparing the float with the float of the 15-digit edge gives SQL's answer: with an
    edge of 12.120000000000001, SQL puts 12.12 in the bin above it, and so does this.
    """
    return [float(f"{edge:.15g}") for edge in edges]


def _features(row: Mapping[str, Any]) -> Mapping[str, Any]:
    value = row.get("features")
    return value if isinstance(value, dict) else {}


def _upsert(conn: Connection, stmt: Any, rows: list[dict[str, Any]], add: dict[str, Any]) -> None:
    if rows:
        keys = [c.name for c in stmt.table.primary_key.columns]
        conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=add), rows)


# --------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class RolledUp:
    """Counts of the verified hours; ``rest``: the intervals left to count from the rows."""

    n: int
    counts: dict[str, np.ndarray]
    rest: list[tuple[dt.datetime, dt.datetime]]


# One statement, so one snapshot: the hours whose fingerprint in the rollup equals that of the
# logged answers (an index-only scan of ix_predictions_version_time, which includes id and
# role), then the element-wise sums of those hours' count vectors, one row per index.  The
# hours go to the counts as an array (an InitPlan): a join planned on the rollup's fresh, not
# yet analysed tables was a nested loop.
_ROLLUP = """
WITH actual AS (
    SELECT date_bin('1 hour', created_at, :origin) AS hour, count(*) AS n, sum(id) AS ids
    FROM loan_data.predictions
    WHERE model_version = :version AND role = :role AND created_at >= :first
      AND created_at < :last
    GROUP BY 1
), verified AS MATERIALIZED (
    SELECT b.bucket_start, b.n_rows FROM loan_data.drift_rollup_buckets AS b
    JOIN actual AS a ON a.hour = b.bucket_start AND a.n = b.n_rows AND a.ids = b.id_sum
    WHERE b.model_version = :version AND b.profile_sha256 = :digest
      AND b.bucket_start >= :first AND b.bucket_start < :last
), totals AS (
    SELECT c.feature, u.i, sum(u.x) AS total
    FROM loan_data.drift_rollup_counts AS c, unnest(c.counts) WITH ORDINALITY AS u(x, i)
    WHERE c.model_version = :version AND c.profile_sha256 = :digest
      AND c.bucket_start = ANY(ARRAY(SELECT bucket_start FROM verified))
    GROUP BY c.feature, u.i
)
SELECT NULL AS feature, NULL AS counts, n_rows, bucket_start FROM verified
UNION ALL
SELECT feature, array_agg(total ORDER BY i), NULL, NULL FROM totals GROUP BY feature
"""


def rolled_up_counts(
    session: Session,
    *,
    entries: Entries,
    model_version: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
) -> RolledUp:
    """The rollup's counts of the window's verified hours, and what remains to be counted."""
    first = bucket_of(window_start)
    first = first if first == window_start else first + HOUR
    last = bucket_of(window_end)
    counts = {name: empty_counts(entry) for name, entry in entries.items()}
    if first >= last:  # no whole hour inside the window
        return RolledUp(0, counts, [(window_start, window_end)])
    params = {
        "version": model_version,
        "role": CHAMPION,
        "first": first,
        "last": last,
        "digest": profile_digest(entries),
        "origin": EPOCH,
    }
    hours: list[dt.datetime] = []
    n = 0
    for feature, vector, rows, hour in session.execute(text(_ROLLUP), params):
        if feature is None:
            hours.append(bucket_of(hour))
            n += int(rows)
        elif feature in counts:  # one profile (its digest): one vector length
            counts[feature] += np.asarray(vector, dtype=np.int64)
    return RolledUp(n, counts, _gaps(window_start, window_end, hours))


def _gaps(
    start: dt.datetime, end: dt.datetime, hours: list[dt.datetime]
) -> list[tuple[dt.datetime, dt.datetime]]:
    """``[start, end)`` less the given hours, as few intervals as possible."""
    rest, cursor = [], start
    for hour in sorted(hours):
        if hour > cursor:
            rest.append((cursor, hour))
        cursor = max(cursor, hour + HOUR)
    if cursor < end:
        rest.append((cursor, end))
    return rest


def rest_filter(
    where: str, rest: list[tuple[dt.datetime, dt.datetime]], params: dict[str, Any]
) -> str:
    """``where`` narrowed to the intervals the rollup did not cover (none: no row)."""
    spans = []
    for i, (low, high) in enumerate(rest):
        params[f"rest_low{i}"], params[f"rest_high{i}"] = low, high
        spans.append(f"(created_at >= :rest_low{i} AND created_at < :rest_high{i})")
    return f"{where} AND ({' OR '.join(spans) or 'false'})"
