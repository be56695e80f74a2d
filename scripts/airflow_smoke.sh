#!/usr/bin/env bash
# `make airflow-smoke`: start a real `airflow standalone` (temp AIRFLOW_HOME, throw-away
# PostgreSQL databases), trigger model_validation_deployment over the REST API with
# f1_threshold=0.99 and wait for the model_training run it triggers and a new registered
# model.  Airflow is always stopped and the databases dropped, also on failure or Ctrl-C.
# The steps are in scripts/airflow_smoke.py; see docs/airflow.md.
#
#   AIRFLOW_SMOKE_PORT=8080       api-server port (default 8080, a free one if 8080 is busy)
#   AIRFLOW_SMOKE_TIMEOUT=600     give up after this many seconds
#   AIRFLOW_SMOKE_KEEP=1          keep AIRFLOW_HOME and the databases for debugging
#   TEST_ADMIN_DATABASE_URL=...   PostgreSQL server to create the databases on
set -euo pipefail
cd "$(dirname "$0")/.."

# Prefer the project's virtual environment when the caller has not activated one.
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ]; then
  PATH="$PWD/.venv/bin:$PATH"
fi
for cmd in python airflow; do
  command -v "$cmd" >/dev/null || { echo "error: '$cmd' not found; run: pip install -e '.[dev]'" >&2; exit 1; }
done

exec python scripts/airflow_smoke.py "$@"
