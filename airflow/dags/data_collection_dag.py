"""Daily ingestion: the next batch of the source into raw_data, then processed_data.

One task calls ``src.pipeline.collection.run_collection`` with the run's logical date (or,
for a manual run without one, its run-after date) as ``data_date``.  Each date gets one batch
of at most ``batch_size`` unseen rows, so a retry or a re-run of the same date tops up an
interrupted batch and otherwise adds nothing; no source row is ever stored twice.  The
summary (inserted, quarantined, ...) is the task's XCom.

Params (overridable in the trigger form or with ``--conf``): ``source`` (default:
``DATA_SOURCE``), ``batch_size`` (default: ``INGEST_BATCH_SIZE``) and ``unlabelled``
(default: ``COLLECT_UNLABELLED``; true stores rows with an empty label as applications
without an outcome yet, for pretraining only, instead of quarantining them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import task
from dag_policy import daily_dag, optional_param, source_param

DESCRIPTION = "Ingest the next batch into loan_data.raw_data and build processed_data"
PARAMS = {
    "source": source_param(),
    "batch_size": optional_param("integer", "rows per run (default INGEST_BATCH_SIZE)", minimum=1),
    "unlabelled": optional_param(
        "boolean", "store rows with an empty label for pretraining (default COLLECT_UNLABELLED)"
    ),
}


@daily_dag("data_collection", DESCRIPTION, params=PARAMS, tag="data", doc=__doc__)
def data_collection() -> None:
    @task(execution_timeout=timedelta(hours=1))
    def collect(
        params: dict[str, Any] | None = None,
        logical_date: datetime | None = None,
        dag_run: Any = None,
    ) -> dict[str, Any]:
        """Ingest the batch for the run's date and build processed_data."""
        from src.pipeline.collection import run_collection

        params = params or {}
        # Manual runs in Airflow 3 may have no logical date: fall back to run_after.
        when = logical_date or getattr(dag_run, "run_after", None) or datetime.now(UTC)
        return run_collection(
            source=params.get("source") or None,
            batch_size=params.get("batch_size") or None,
            data_date=when.date().isoformat(),
            unlabelled=params.get("unlabelled"),
        )

    collect()


data_collection()
