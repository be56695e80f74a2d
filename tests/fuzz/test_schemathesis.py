"""Schemathesis against the live service's own ``/openapi.json``: no 5xx, no schema violations.

The document describes the *served* model's request (its features, which may be null, no
others; see ``src/api/openapi.py``), so schemathesis generates both valid applications that
reach the model and invalid ones that must be refused with a documented 4xx.  Phases:
examples, coverage (boundary values: huge/tiny numbers, empty and over-long strings, missing
and extra fields, wrong types) and fuzzing (hypothesis-generated bodies, headers, query).

Checks (every response of every case):

* ``not_a_server_error`` — no 5xx;
* ``status_code_conformance`` — only documented status codes;
* ``content_type_conformance`` / ``response_headers_conformance`` — documented media types
  and headers;
* ``response_schema_conformance`` — the body validates against the documented schema;
* ``positive_data_acceptance`` — schema-valid requests are accepted (the document is not
  stricter or looser than the validator in that direction);
* ``missing_required_header``, ``unsupported_method`` (405 + Allow), ``ignored_auth``
  (/admin/* without the key is refused).

``negative_data_rejection`` is not run on purpose: the API leniently accepts an integer
category (as its text) that the document does not advertise.

``FUZZ_MAX_EXAMPLES`` / ``FUZZ_SEED`` override the bounded default run (reproducible seed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import metric_value
from tests.e2e.server import ADMIN_KEY, wait_until
from tests.fuzz.conftest import Target

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "150"))
SEED = os.environ.get("FUZZ_SEED", "20260101")
MIN_CASES = 7 * min(MAX_EXAMPLES, 50)  # 7 operations; guards against a silently empty run
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "ignored_auth",
)
OPERATIONS = {
    "POST /predict",
    "POST /predict/batch",
    "GET /health",
    "GET /ready",
    "GET /model",
    "GET /metrics",
    "POST /admin/reload",
    "GET /monitoring",
    "GET /models",
    "GET /models.json",
    "GET /models/{version}/card.json",
    "GET /models/{version}/report",
}


def test_schemathesis_finds_no_server_error_or_schema_violation(
    target: Target, tmp_path: Path
) -> None:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        target.openapi_url,
        "--checks",
        ",".join(CHECKS),
        "--mode",
        "all",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        # One worker: with several threads, CPython 3.11 < 3.11.9 can raise "SystemError: AST
        # constructor recursion depth mismatch" inside schemathesis (concurrent ast.parse).
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--header",
        f"X-API-Key: {ADMIN_KEY}",
        "--report",
        "json",
        "--report-dir",
        str(tmp_path),
    ]
    # cwd=tmp_path: schemathesis keeps its hypothesis database in the working directory.
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    output = run.stdout[-20000:] + run.stderr[-5000:]
    print(output)
    assert run.returncode == 0, output

    (report_path,) = tmp_path.glob("*.json")
    report = json.loads(report_path.read_text())
    assert report["failures"] == [] and report["errors"] == [], output
    assert report["operations"]["tested"] == len(OPERATIONS)
    assert set(report["valid_rates"]) == OPERATIONS
    cases = report["test_cases"]
    for operation, phases in sorted(report["valid_rates"].items()):
        counts = {phase: (r["accepted"], r["rejected"]) for phase, r in phases.items()}
        print(f"{operation}: schema-valid cases (accepted, rejected) per phase {counts}")
    assert cases["with_failures"] == 0 and cases["errored"] == 0
    assert cases["generated"] >= MIN_CASES, cases
    # Both kinds of input were exercised: requests the model scored and requests it refused.
    for operation in ("POST /predict", "POST /predict/batch"):
        fuzzing = report["valid_rates"][operation]["fuzzing"]
        assert fuzzing["accepted"] > 0, report["valid_rates"][operation]

    # The server's own view: no 5xx, every scored request was logged (nothing refused by
    # PostgreSQL, e.g. odd unicode in JSONB), no traceback in its log.
    client = target.client
    wait_until(
        lambda: metric_value(client.get("/metrics").text, "prediction_log_buffer_depth") == 0
    )
    metrics = client.get("/metrics").text
    server_errors = [
        line for line in metrics.splitlines() if 'status="5' in line and not line.startswith("#")
    ]
    assert server_errors == []
    by_status: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("http_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            key = (
                labels.split('endpoint="')[1].split('"')[0] + " " + labels.split('status="')[1][:3]
            )
            if key.startswith("/predict"):
                by_status[key] = by_status.get(key, 0) + float(value)
    print("server-side statuses:", by_status)
    scored = 'http_requests_total{endpoint="/predict",method="POST",status="200"}'
    assert metric_value(metrics, scored) > 0
    assert metric_value(metrics, 'prediction_log_dropped_total{reason="rejected"}') == 0
    assert metric_value(metrics, 'prediction_log_dropped_total{reason="overflow"}') == 0
    assert "Traceback" not in target.server.log_text()


def test_openapi_describes_the_served_model(target: Target) -> None:
    """What the fuzzing relies on: the document states the served model's exact request."""
    doc = target.client.get("/openapi.json").json()
    request = doc["components"]["schemas"]["PredictRequest"]
    assert request["additionalProperties"] is False
    sections = request["properties"]
    schema = target.schema
    for name, features in (
        ("categorical_features", schema.categorical),
        ("numerical_features", schema.numerical),
    ):
        section = sections[name]
        assert list(section["properties"]) == list(features)
        assert section["required"] == [f for f in features if f not in schema.nullable]
        assert section["additionalProperties"] is False
    batch = doc["components"]["schemas"]["BatchPredictRequest"]["properties"]["records"]
    assert (batch["minItems"], batch["maxItems"]) == (1, 1000)
    predict = doc["paths"]["/predict"]["post"]
    assert predict["security"] == [{}, {"APIKeyHeader": []}]  # PREDICT_API_KEY unset: optional
    assert doc["paths"]["/admin/reload"]["post"]["security"] == [{"APIKeyHeader": []}]
    assert {"401", "413", "422", "503"} <= set(predict["responses"])
