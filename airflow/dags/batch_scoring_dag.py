"""Score every stored row of a source with one model, in parallel raw-id ranges.

plan -> score (one mapped task instance per range) -> summarise

``plan`` calls ``src.pipeline.batch_plan.plan_batch``: the checks of ``loan-default score``
(unknown model, model of another line, no stored rows, run id reused with other settings
fail at once, before anything is written), the checksum-verified model, the
``loan_data.batch_runs`` row, and a list of small range descriptors (run id, first and last
raw id) of about ``chunk_size`` rows each: the only XCom of the DAG besides the counts.
``score`` is mapped over that list (dynamic task mapping): each instance scores its range into
``loan_data.batch_scores`` in one transaction (``ON CONFLICT DO NOTHING``), without locking
the other ranges out, so instances run in parallel up to the executor's slots, and a retry
of a range adds nothing.  ``summarise`` marks the run ``complete`` only if every row is
scored (otherwise it fails, naming how many are missing) and returns the summary: rows,
mean and deciles of the probability, share predicted positive.

Manual trigger only.  Params: ``source`` (default ``DATA_SOURCE``), ``model_version``
(default: the line's active model), ``run_id`` (default: derived from the DAG run id, so that
clearing the DAG run resumes the same batch run), ``chunk_size`` (rows per range).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Param, dag, task
from dag_policy import COMMON_DAG_ARGS, optional_param, source_param

PARAMS = {
    "source": source_param(),
    "model_version": optional_param("string", "model version (default: the active model)"),
    "run_id": optional_param(
        "string", "batch run id to start or resume (default: from the DAG run id)", maxLength=64
    ),
    "chunk_size": Param(
        10_000, type="integer", minimum=1, description="rows per mapped scoring task"
    ),
}


@dag(
    dag_id="batch_scoring",
    description="Score every stored row of a source into loan_data.batch_scores, in parallel",
    schedule=None,
    **COMMON_DAG_ARGS,
    dagrun_timeout=timedelta(hours=6),
    params=PARAMS,
    tags=["loan-default", "scoring"],
    doc_md=__doc__,
)
def batch_scoring() -> None:
    # ``run_id`` below is Airflow's context key (the DAG run id); the param is params["run_id"].
    @task
    def plan(
        params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Check, create or reuse the batch run; returns its raw-id ranges."""
        from src.pipeline.batch_plan import batch_run_id, plan_batch

        params = params or {}
        return plan_batch(
            source=params.get("source") or None,
            model_version=params.get("model_version") or None,
            run_id=batch_run_id(requested=params.get("run_id"), dag_run_id=str(run_id)),
            chunk_size=int(params["chunk_size"]),
        )

    # multiple_outputs=False: the counts are one XCom, not one per key.
    @task(execution_timeout=timedelta(hours=1), multiple_outputs=False)
    def score(chunk: dict[str, Any]) -> dict[str, Any]:
        """Score one range (idempotent); returns its counts."""
        from src.pipeline.batch_plan import score_range

        return score_range(
            run_id=chunk["run_id"],
            first_raw_id=int(chunk["first_raw_id"]),
            last_raw_id=int(chunk["last_raw_id"]),
        )

    @task(multiple_outputs=False)
    def summarise(
        ranges: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """Complete the run if every row is scored; returns the score distribution."""
        from src.pipeline.batch_plan import batch_run_id, finish_batch

        summary = finish_batch(
            run_id=batch_run_id(requested=(params or {}).get("run_id"), dag_run_id=str(run_id))
        )
        summary["scored_by_this_dag_run"] = sum(int(r["scored"]) for r in ranges)
        summary["ranges"] = len(ranges)
        return summary

    summarise(score.expand(chunk=plan()))


batch_scoring()
