"""Record realised outcomes (did the loan default?) by application id, on demand.

One task calls ``src.pipeline.outcomes.record_outcomes``, the function behind
``loan-default outcomes``: it reads a CSV/Parquet file or a SQL query, stores each new
application id's label in ``loan_data.outcomes`` and quarantines rows it cannot record
(no id, no label, a bad date, a label that contradicts the stored one) in
``loan_data.outcome_quarantine``.  A re-run of the same input adds nothing, so a retry is
safe.  The summary (inserted, unchanged, quarantined by reason, unknown ids ...) is the
task's XCom.

Manual trigger only (outcomes arrive when the lender exports them).  Params: ``source``
(a file path, or ``sql`` with ``sql_url`` and ``query``), ``id_column``, ``target``,
``positive`` (the target value recorded as 1; any other value is 0),
``outcome_date_column`` and ``allow_update`` (replace a stored label instead of
quarantining the new one).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Param, dag, task
from dag_policy import COMMON_DAG_ARGS, optional_param, required_param

PARAMS = {
    "source": required_param(
        "string", "a .csv/.parquet path, or 'sql' (with sql_url)", minLength=1
    ),
    "sql_url": optional_param("string", "database URL of the query (source 'sql' only)"),
    "query": optional_param("string", "SQL query returning the outcome rows (source 'sql')"),
    "id_column": Param(
        "application_id", type="string", minLength=1, description="application id column"
    ),
    "target": required_param("string", "outcome (label) column", minLength=1),
    "positive": required_param("string", "target value recorded as 1 (default)", minLength=1),
    "outcome_date_column": optional_param("string", "column with the outcome date (ISO)"),
    "allow_update": Param(False, type="boolean", description="replace differing stored labels"),
}


@dag(
    dag_id="outcome_collection",
    description="Record realised outcomes in loan_data.outcomes by application_id",
    schedule=None,
    **COMMON_DAG_ARGS,
    params=PARAMS,
    tags=["loan-default", "monitoring"],
    doc_md=__doc__,
)
def outcome_collection() -> None:
    @task(execution_timeout=timedelta(hours=1))
    def record(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record the outcomes of the configured source; returns the summary."""
        from src.pipeline.outcomes import record_outcomes

        params = params or {}
        summary = record_outcomes(
            source=params["source"],
            id_column=params["id_column"],
            target=params["target"],
            positive=str(params["positive"]),
            outcome_date_column=params.get("outcome_date_column") or None,
            allow_update=bool(params.get("allow_update")),
            sql_url=params.get("sql_url") or None,
            query=params.get("query") or None,
        )
        return summary.as_dict()

    record()


outcome_collection()
