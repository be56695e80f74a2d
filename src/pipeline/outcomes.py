"""record_outcomes(): realised outcomes (did the loan default?) -> ``loan_data.outcomes``.

The CLI (``loan-default outcomes``) and the ``outcome_collection`` DAG call this one function.
It reads the input with the same readers as ``collect`` (CSV/Parquet file or SQL query),
checks each row (``src.data.outcome_rows``) and compares the rest with what is stored:

* a new application id is inserted; the same label again is ``unchanged``;
* a different label for a stored id is quarantined with both labels, unless
  ``allow_update`` (then the stored outcome is replaced and ``updated_at`` set);
* rejected rows go to ``outcome_quarantine`` under a fingerprint, so a re-run adds nothing.

Inserts are INSERT ... ON CONFLICT DO NOTHING on the unique ``application_id``: when two runs
race, the loser's rows are compared again with what the winner stored, so no outcome is
written twice or lost.  An outcome whose id no logged prediction carries yet is kept and
reported (``unknown_ids``): its prediction may be logged later, or came before ids existed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy import Engine

from src.data.database import get_engine, redact_url
from src.data.outcome_rows import check_outcome_rows
from src.data.outcome_store import ids_without_predictions, store_outcomes, store_rejected
from src.data.source_options import SourceOptions
from src.data.sources import SourceSpec, read_source, resolve_source, source_kind
from src.exceptions import ConfigurationError, MissingColumnError

__all__ = ["OutcomeSummary", "record_outcomes"]

logger = logging.getLogger(__name__)

UNKNOWN_EXAMPLES = 5


@dataclass(frozen=True, kw_only=True)
class OutcomeSummary:
    """What one run did.  ``rows_read`` = recorded rows (``inserted + unchanged + updated``)
    + ``repeated`` + rows quarantined (the sum of ``quarantined``).

    ``positives`` / ``negatives`` count the distinct, consistently labelled ids of the input
    (label 1 = the ``positive`` value, 0 = any other value).  ``quarantine_added`` is how many
    quarantine rows are new (0 on a re-run).  ``unknown_ids`` counts this input's recorded
    ids that no logged prediction carries yet.
    """

    origin: str
    rows_read: int
    inserted: int = 0
    unchanged: int = 0
    updated: int = 0
    repeated: int = 0
    positives: int = 0
    negatives: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    quarantine_added: int = 0
    unknown_ids: int = 0
    unknown_id_examples: tuple[str, ...] = ()
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["unknown_id_examples"] = list(self.unknown_id_examples)
        return out


def record_outcomes(
    *,
    source: str,
    id_column: str,
    target: str,
    positive: str,
    outcome_date_column: str | None = None,
    allow_update: bool = False,
    sql_url: str | None = None,
    query: str | None = None,
    na_values: Iterable[str] | None = None,
    engine: Engine | None = None,
) -> OutcomeSummary:
    """Record the outcomes of ``source`` (a .csv/.parquet path, or ``"sql"`` with
    ``sql_url`` and ``query``); raises ``MissingColumnError`` (a ``DataSourceError`` that
    Airflow does not retry) naming the columns present when ``id_column``, ``target`` or
    ``outcome_date_column`` is absent, before writing anything.

    Ids repeat across runs by design: a later run is compared with the stored outcomes.
    """
    spec = _spec(
        source, id_column, target, positive, outcome_date_column, sql_url, query, na_values
    )
    origin = _origin(spec)
    frame = read_source(spec)
    if outcome_date_column and outcome_date_column not in frame.columns:
        raise MissingColumnError(
            f"outcome date column {outcome_date_column!r} not found in {spec.describe()}; "
            f"columns are {list(frame.columns)}"
        )
    if frame.empty:
        message = f"{origin} has no rows: nothing recorded"
        logger.warning("outcomes: %s", message)
        return OutcomeSummary(origin=origin, rows_read=0, message=message)
    checked = check_outcome_rows(
        frame,
        id_column=id_column,
        target=target,
        positive=positive,
        date_column=outcome_date_column,
    )
    engine = engine or get_engine()
    with engine.begin() as conn:  # all or nothing: a failed run leaves no partial outcomes
        counts, conflicts = store_outcomes(
            conn, frame, checked.outcomes, origin=origin, allow_update=allow_update
        )
        rejected = checked.rejected + conflicts
        added = store_rejected(conn, rejected, origin=origin)
        conflicting = {r.application_id for r in conflicts}
        recorded = [
            o.application_id for o in checked.outcomes if o.application_id not in conflicting
        ]
        unknown = ids_without_predictions(conn, recorded)
    positives = sum(o.label for o in checked.outcomes)
    summary = OutcomeSummary(
        origin=origin,
        rows_read=len(frame),
        inserted=counts["inserted"],
        unchanged=counts["unchanged"],
        updated=counts["updated"],
        repeated=checked.repeated,
        positives=positives,
        negatives=len(checked.outcomes) - positives,
        quarantined=dict(Counter(r.kind for r in rejected)),
        quarantine_added=added,
        unknown_ids=len(unknown),
        unknown_id_examples=tuple(unknown[:UNKNOWN_EXAMPLES]),
        message=_message(counts, len(rejected), len(unknown), allow_update),
    )
    logger.info("outcomes from %s: %s", origin, summary.as_dict())
    return summary


def _spec(
    source: str,
    id_column: str,
    target: str,
    positive: str,
    date_column: str | None,
    sql_url: str | None,
    query: str | None,
    na_values: Iterable[str] | None,
) -> SourceSpec:
    """The reader's spec: the id and date read as text, so ``007`` is not turned into 7."""
    if source_kind(source) not in ("file", "sql"):
        raise ConfigurationError(
            f"outcomes come from a .csv/.parquet file or 'sql' (with --sql-url and --query), "
            f"not {source!r}"
        )
    required = (("--id-column", id_column), ("--target", target), ("--positive", positive))
    for flag, value in required:
        if value is None or not str(value).strip():
            raise ConfigurationError(f"outcomes need {flag}")
    options = SourceOptions(
        source=source,
        name="outcomes",
        target=target,
        positive=positive,
        id_column=id_column,
        sql_url=sql_url,
        query=query,
        na_values=tuple(na_values or ()),
    )
    text = (id_column, date_column) if date_column else (id_column,)
    return replace(resolve_source(options), text_columns=text)


def _origin(spec: SourceSpec) -> str:
    if spec.kind == "sql" and spec.sql_url:
        return f"sql {redact_url(spec.sql_url)}: {spec.location}"
    return spec.location


def _message(counts: Counter[str], rejected: int, unknown: int, allow_update: bool) -> str:
    parts = [
        f"{counts['inserted']} new outcome(s) recorded, {counts['unchanged']} already stored "
        f"with the same label" + (f", {counts['updated']} updated" if allow_update else "")
    ]
    if rejected:
        parts.append(f"{rejected} row(s) quarantined (see loan_data.outcome_quarantine)")
    if unknown:
        parts.append(f"{unknown} id(s) have no logged prediction yet (kept)")
    return "; ".join(parts)
