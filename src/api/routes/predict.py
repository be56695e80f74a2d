"""``POST /predict`` and ``POST /predict/batch``.

``/predict`` is ``async``: a single record is parsed and validated on the event loop (tens
of microseconds), its forward pass runs in the micro-batcher's thread, and the request
awaits it without holding a thread.  Bodies above ``LOOP_PARSE_BYTES`` and explanations
(occlusion, many passes) go to the threadpool instead, so nothing slow runs on the loop.
``/predict/batch`` is a sync route (the threadpool): validating a thousand records would
stall the loop.  The key, query, request id, model and body are read in one dependency
(``scoring_request.scoring_call``); the model is captured once per request, so a hot swap
cannot mix two models inside one response.  ``response_model`` documents the plain JSON returned.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.types import DecoratedCallable
from starlette.concurrency import run_in_threadpool

from config.settings import get_settings
from src.api.inference import (
    RECORDS,
    batch_payloads,
    batch_records,
    item_request_ids,
    parse_json,
    score,
    single_record,
)
from src.api.schemas import (
    BatchPredictionResponse,
    PredictionResult,
    error_responses,
)
from src.api.scoring_request import SCORING_OPENAPI, Call, ScoringCall
from src.pipeline.serving import Scored

router = APIRouter(tags=["prediction"])


def _body_doc(component: str) -> dict[str, Any]:
    """The request body is read raw (validated against the live model), so document it here."""
    ref = {"$ref": f"#/components/schemas/{component}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


ERRORS = error_responses(
    {
        401: "PREDICT_API_KEY is set and X-API-Key is wrong",
        413: "body or batch too large, or too many records x features to explain",
        404: "`model` names no line with an active model",
        422: "invalid input; `field` names the culprit",
        503: "no model loaded yet (or the line's cannot load)",
    }
)


LOOP_PARSE_BYTES = 64 * 1024  # a single record is ~1 KiB; larger bodies parse in a thread


def _scoring_route(
    path: str, response: type[Any], body: str
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """Both scoring routes: the same errors, and a body documented from the live model."""
    return router.post(
        path,
        response_model=response,
        responses=ERRORS,
        openapi_extra=_body_doc(body) | copy.deepcopy(SCORING_OPENAPI),
    )


@_scoring_route("/predict", PredictionResult, "PredictRequest")
async def predict(call: Call) -> JSONResponse:
    """Score one application; `prediction` is 1 when `probability` >= the model's threshold.

    An optional `application_id` (the lender's id) is echoed and logged with the prediction,
    so outcomes recorded later (`loan-default outcomes`) can be joined to it.
    """
    started = time.perf_counter()
    batcher = call.services.batcher
    if call.explain or len(call.raw) > LOOP_PARSE_BYTES or batcher is None:
        return await run_in_threadpool(_predict_in_thread, call, started)
    model = call.model
    record, application_id = single_record(parse_json(call.raw), model.predictor.schema)
    scores = await batcher.predict_async(model.predictor, [record])
    scored = score(
        model,
        [record],
        [call.rid],
        application_ids=[application_id],
        explain=False,
        started=started,
        scores=scores,
    )
    return _answer(call, [record], scored)


def _predict_in_thread(call: ScoringCall, started: float) -> JSONResponse:
    model = call.model
    record, application_id = single_record(parse_json(call.raw), model.predictor.schema)
    scored = score(
        model,
        [record],
        [call.rid],
        application_ids=[application_id],
        explain=call.explain,
        started=started,
        batcher=call.services.batcher,
    )
    return _answer(call, [record], scored)


def _answer(call: ScoringCall, records: list[dict[str, Any]], scored: Scored) -> JSONResponse:
    """Log, offer to the shadow, count: what every single-record answer does last."""
    call.services.log.submit(scored.log_rows)
    call.services.offer_shadow(call.model, records, scored.items)
    call.services.metrics.count_predictions([scored.items[0]["prediction"]])
    return JSONResponse(scored.items[0], headers={"X-Request-ID": call.rid})


@_scoring_route("/predict/batch", BatchPredictionResponse, "BatchPredictRequest")
def predict_batch(call: Call) -> JSONResponse:
    """Score up to MAX_BATCH_SIZE applications in one forward pass; results keep input order.

    Each record is logged under ``<request_id>-<index>``.  An invalid record fails the whole
    batch with 422 naming it (``records[3].numerical_features.int_rate``).
    """
    started = time.perf_counter()
    model, rid = call.model, call.rid
    payloads = batch_payloads(parse_json(call.raw), max_size=get_settings().max_batch_size)
    records, application_ids = batch_records(payloads, model.predictor.schema)
    scored = score(
        model,
        records,
        item_request_ids(rid, len(records)),
        application_ids=application_ids,
        explain=call.explain,
        started=started,
        batcher=call.services.batcher,
        field_prefix=RECORDS,
    )
    call.services.log.submit(scored.log_rows)
    call.services.offer_shadow(model, records, scored.items)
    call.services.metrics.count_predictions([item["prediction"] for item in scored.items])
    body = {
        "request_id": rid,
        "model_version": model.version,
        "threshold": float(model.predictor.threshold),
        "predictions": scored.items,
    }
    return JSONResponse(body, headers={"X-Request-ID": rid})
