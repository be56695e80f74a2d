"""Bin counts of a monitored population, computed where the rows are.

On PostgreSQL one statement scans the population once and counts every feature's bins and the
score's: each row's bin per feature is ``width_bucket`` over its JSON number (or the category's
text), and ``GROUP BY GROUPING SETS ((score), (f1), (f2), ..., ())`` aggregates all of them in
the same pass, ``GROUPING()`` telling "this row group is not about f1" from "f1 is NULL"
(missing).  A million logged predictions come back as a few hundred rows; none is loaded into
Python.  On SQLite (the laptop demo) the same counts are made in Python over chunks of rows
(``src.data.drift_rows``), so memory stays bounded there too.  Logged answers' whole hours
come from the write-time rollup when it is verified to hold them (``src.data.drift_rollup``).

Values that are not numbers cannot break the statement: a numerical feature is read only
when ``jsonb_typeof`` says ``number`` (a string, a boolean or an object counts as missing),
and through ``numeric``, which holds any JSON number (``float8`` would raise on ``1e400``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from src.data.database import is_postgres
from src.data.drift_counts import GroupKey, counts_from_groups
from src.data.drift_rollup import rest_filter, rolled_up_counts
from src.data.drift_rows import iter_collected_features, iter_unlabelled_features, python_counts
from src.data.monitoring_tables import SCORE
from src.data.tables import CHAMPION, Prediction, ProcessedData, UnlabelledRow

__all__ = [
    "PopulationCounts",
    "collected_counts",
    "iter_collected_features",
    "iter_unlabelled_features",
    "live_counts",
    "unlabelled_counts",
]

SAMPLE_SEED = 20240101  # TABLESAMPLE ... REPEATABLE: a fixed seed, so samples can be replayed
AGGREGATE_WORK_MEM = "64MB"  # for the one counting statement only (see _with_work_mem)


@dataclass(frozen=True)
class PopulationCounts:
    """How many rows a population has, and their counts per bin (``SCORE`` when counted).

    ``sampled_from`` is the population's size when the counts are of a sample of it (``n``
    rows), None when every row was counted.
    """

    n: int
    counts: dict[str, np.ndarray]
    sampled_from: int | None = None


@dataclass(frozen=True)
class _Population:
    table: str  # schema-qualified, as PostgreSQL names it
    where: str  # SQL over the table's columns, with named parameters
    params: dict[str, Any]
    orm_filter: tuple[Any, ...]  # the same filter for the Python path
    model: Any  # the ORM class
    score: bool  # whether the table holds the model's score (``probability``)
    sample_rows: int = 0  # count a sample of about this many rows when there are more (SQL)
    # (model_version, window_start, window_end) of logged answers: whole hours may come from
    # the write-time rollup (``src.data.drift_rollup``) instead of the rows.
    rollup: tuple[str, dt.datetime, dt.datetime] | None = None


def live_counts(
    session: Session,
    *,
    profile: Mapping[str, Any],
    model_version: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    in_database: bool | None = None,
    sample_rows: int = 0,
    use_rollup: bool = True,
) -> PopulationCounts:
    """Counts of the predictions ``model_version`` logged in ``[window_start, window_end)``.

    ``in_database`` forces the SQL (True) or Python (False) path; by default SQL on PostgreSQL.
    ``sample_rows`` > 0: when the window holds more rows than that, the SQL path counts a
    repeatable random sample of table pages holding about that many of them (see
    ``_sql_counts``); the Python path always counts every row.  ``use_rollup=False`` counts
    every hour from the rows (what the rollup is compared with: ``bench/monitoring.py``).
    """
    population = _Population(
        table="loan_data.predictions",
        # Answers only: a shadow score of the same request is not live traffic.
        where="model_version = :version AND role = :role "
        "AND created_at >= :start AND created_at < :end",
        params={
            "version": model_version,
            "role": CHAMPION,
            "start": window_start,
            "end": window_end,
        },
        orm_filter=(
            Prediction.model_version == model_version,
            Prediction.role == CHAMPION,
            Prediction.created_at >= window_start,
            Prediction.created_at < window_end,
        ),
        model=Prediction,
        score=True,
        sample_rows=sample_rows,
        rollup=(model_version, window_start, window_end) if use_rollup else None,
    )
    return _counts(session, profile=profile, population=population, in_database=in_database)


def collected_counts(
    session: Session,
    *,
    profile: Mapping[str, Any],
    source: str,
    after_raw_id: int,
    in_database: bool | None = None,
) -> PopulationCounts:
    """Feature counts of ``source``'s processed rows with ``raw_id > after_raw_id``.

    No score: collected rows were never scored; ``iter_collected_features`` streams them to
    be scored by the caller.
    """
    population = _Population(
        table="loan_data.processed_data",
        where="source = :source AND raw_id > :after",
        params={"source": source, "after": after_raw_id},
        orm_filter=(ProcessedData.source == source, ProcessedData.raw_id > after_raw_id),
        model=ProcessedData,
        score=False,
    )
    return _counts(session, profile=profile, population=population, in_database=in_database)


def unlabelled_counts(
    session: Session,
    *,
    profile: Mapping[str, Any],
    source: str,
    after: dt.datetime,
    in_database: bool | None = None,
) -> PopulationCounts:
    """Feature counts of ``source``'s unlabelled applications collected after ``after``.

    Applications whose outcome is not known yet (``collect --unlabelled``): the earliest
    view of who applies now.  No score, as for collected rows.
    """
    population = _Population(
        table="loan_data.unlabelled_data",
        where="source = :source AND ingested_at > :after",
        params={"source": source, "after": after},
        orm_filter=(UnlabelledRow.source == source, UnlabelledRow.ingested_at > after),
        model=UnlabelledRow,
        score=False,
    )
    return _counts(session, profile=profile, population=population, in_database=in_database)


def _counts(
    session: Session,
    *,
    profile: Mapping[str, Any],
    population: _Population,
    in_database: bool | None,
) -> PopulationCounts:
    if in_database is None:
        in_database = is_postgres(session.get_bind())
    entries: dict[str, Mapping[str, Any]] = dict(profile["features"])
    if population.score:
        entries[SCORE] = profile["score"]
    if in_database:
        return _sql_counts(session, entries=entries, population=population)
    model = population.model
    n, counts = python_counts(
        session,
        entries=entries,
        columns=(model.features, model.probability) if population.score else (model.features,),
        orm_filter=population.orm_filter,
    )
    return PopulationCounts(n=n, counts=counts)


def _sql_counts(
    session: Session, *, entries: Mapping[str, Mapping[str, Any]], population: _Population
) -> PopulationCounts:
    params: dict[str, Any] = dict(population.params)
    table, total, where = population.table, None, population.where
    rolled = None
    if population.rollup is not None:
        version, start, end = population.rollup
        rolled = rolled_up_counts(
            session, entries=entries, model_version=version, window_start=start, window_end=end
        )
    if population.sample_rows > 0:
        # Rows the rollup leaves to count; with the rollup only they are counted to decide
        # (the whole window's count is a full scan: as long as the rollup's whole check).
        rest = dict(params)
        rest_where = where if rolled is None else rest_filter(where, rolled.rest, rest)
        left = int(session.execute(_count_sql(table, rest_where), rest).scalar_one())
        total = left + (0 if rolled is None else rolled.n)
        # Exact (the rollup plus the rest counted from rows) whenever the rest is no more than
        # a sample would read; otherwise the same sample of the whole window as without it.
        if left > population.sample_rows:
            rolled = None
            # SYSTEM sampling reads only the sampled pages: the JSON extraction and binning
            # that dominate the exact count run on about sample_rows rows.  REPEATABLE: the
            # same rows give the same sample, so a measurement can be replayed.
            params["sample_percent"] = 100.0 * population.sample_rows / total
            table += f" TABLESAMPLE SYSTEM (:sample_percent) REPEATABLE ({SAMPLE_SEED})"
        else:
            total = None
    if rolled is not None:
        where = rest_filter(where, rolled.rest, params)
    columns = []
    for i, (name, entry) in enumerate(entries.items()):
        params[f"k{i}"], params[f"e{i}"] = name, entry.get("edges", [])
        if name == SCORE:
            expr = (
                "CASE WHEN probability = 'NaN'::float8 THEN NULL "
                f"ELSE width_bucket(probability, CAST(:e{i} AS float8[])) END"
            )
        elif entry["kind"] == "numerical":
            value = f"(features -> :k{i})"
            expr = (
                f"CASE WHEN jsonb_typeof({value}) = 'number' "
                f"THEN width_bucket({value}::numeric, CAST(:e{i} AS numeric[])) END"
            )
        else:
            expr = f"features ->> :k{i}"
        columns.append(f"{expr} AS c{i}")
    aliases = [f"c{i}" for i in range(len(entries))]
    outer = ", ".join(f"GROUPING({a}), {a}" for a in aliases)
    sets = ", ".join(f"({a})" for a in aliases)
    # Only generated aliases and the fixed table/filter text are spliced in; feature names and
    # edges are bound parameters.
    inner = " ".join(["SELECT", ", ".join(columns), "FROM", table])
    source = " ".join(["(", inner, "WHERE", where, ") AS t"])
    sql = " ".join(["SELECT", outer, ", count(*) FROM", source, "GROUP BY GROUPING SETS (", sets])
    sql += ", ())"
    groups: list[dict[GroupKey, int]] = [{} for _ in entries]
    n = 0
    for row in _with_work_mem(session, text(sql), params):
        rows = int(row[-1])
        grouped = [i for i in range(len(entries)) if row[2 * i] == 0]
        if not grouped:  # the () set: every row of the population
            n = rows
            continue
        key = row[2 * grouped[0] + 1]
        groups[grouped[0]][key] = groups[grouped[0]].get(key, 0) + rows
    counts = {
        name: counts_from_groups(entry, groups[i])
        for i, (name, entry) in enumerate(entries.items())
    }
    if rolled is not None:
        n += rolled.n
        counts = {name: counts[name] + rolled.counts[name] for name in counts}
    return PopulationCounts(n=n, counts=counts, sampled_from=total)


def _count_sql(table: str, where: str) -> Any:
    return text(" ".join(["SELECT count(*) FROM", table, "WHERE", where]))


def _with_work_mem(session: Session, statement: Any, params: dict[str, Any]) -> list[Any]:
    """Run ``statement`` with AGGREGATE_WORK_MEM, then give the transaction its value back.

    At PostgreSQL's default 4MB the grouping sets of 1M rows were sorted on disk (~4x the
    aggregation time measured with 64MB); a few hundred groups need far less than that.
    """
    previous = session.execute(text("SELECT current_setting('work_mem')")).scalar_one()
    session.execute(text("SELECT set_config('work_mem', :v, true)"), {"v": AGGREGATE_WORK_MEM})
    try:
        return list(session.execute(statement, params))
    finally:
        session.execute(text("SELECT set_config('work_mem', :v, true)"), {"v": previous})
