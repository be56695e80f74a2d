#!/usr/bin/env bash
# `make airflow`: Airflow 3 on this machine without Docker (`airflow standalone`: scheduler,
# dag-processor, triggerer and api-server/UI, LocalExecutor).  The three DAGs of
# airflow/dags run against the project's DATABASE_URL (environment or .env).  Ctrl-C stops it.
#
#   AIRFLOW_HOME=.airflow          state, logs, airflow.cfg (git-ignored; kept between runs)
#   AIRFLOW_PORT=8080              UI / REST API port on 127.0.0.1
#   AIRFLOW_ADMIN_PASSWORD=...     admin password (default: generated once, kept in AIRFLOW_HOME)
#   AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=...   metadata DB (default: SQLite in AIRFLOW_HOME)
#   AIRFLOW__CORE__PARALLELISM=2   concurrent tasks
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

if [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ]; then
  PATH="$REPO/.venv/bin:$PATH"
fi
for cmd in python airflow; do
  command -v "$cmd" >/dev/null || { echo "error: '$cmd' not found; run: make install" >&2; exit 1; }
done

export AIRFLOW_HOME="${AIRFLOW_HOME:-$REPO/.airflow}"
mkdir -p "$AIRFLOW_HOME"
AIRFLOW_HOME="$(cd "$AIRFLOW_HOME" && pwd)"
PORT="${AIRFLOW_PORT:-8080}"

export AIRFLOW__CORE__DAGS_FOLDER="$REPO/airflow/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-2}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
export AIRFLOW__API__WORKERS="${AIRFLOW__API__WORKERS:-1}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
case "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in
  postgresql*) # psycopg 3 for the async engine too (Airflow would otherwise want asyncpg)
    : "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC:=$(python -c 'import sys; from sqlalchemy.engine import make_url; print(make_url(sys.argv[1]).set(drivername="postgresql+psycopg").render_as_string(hide_password=False))' "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")}"
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC ;;
esac
# Tasks import src/ and config/ from this checkout even without `pip install -e .`.
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

# The project database the DAGs use: DATABASE_URL from the environment or .env, with a
# relative SQLite path made absolute so every Airflow process sees the same file.
DATABASE_URL="$(python - <<'PY'
from pathlib import Path
from config.settings import get_settings
url = get_settings().database_url
prefix = "sqlite:///"
if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
    url = prefix + str(Path(url[len(prefix):]).resolve())
print(url)
PY
)"
export DATABASE_URL
python -c "from src.data.database import init_db; init_db()" >/dev/null \
  || { echo "error: cannot initialise the project database (DATABASE_URL)" >&2; exit 1; }

# Known admin password for the simple auth manager (the file Airflow itself would generate).
PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
if [ -n "${AIRFLOW_ADMIN_PASSWORD:-}" ] || [ ! -s "$PASSWORDS" ]; then
  PASSWORD="${AIRFLOW_ADMIN_PASSWORD:-$(python -c 'import secrets; print(secrets.token_urlsafe(12))')}"
  ADMIN_PASSWORD="$PASSWORD" python -c 'import json, os, sys; json.dump({"admin": os.environ["ADMIN_PASSWORD"]}, open(sys.argv[1], "w"))' "$PASSWORDS"
  chmod 600 "$PASSWORDS"
fi
PASSWORD="$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' "$PASSWORDS")"

REDACTED_DB="$(python -c 'import sys; from sqlalchemy.engine import make_url; print(make_url(sys.argv[1]).render_as_string(hide_password=True))' "$DATABASE_URL")"
cat <<MSG
============================================================================
 Airflow UI:     http://127.0.0.1:$PORT
 username:       admin
 password:       $PASSWORD
 DAGs:           $AIRFLOW__CORE__DAGS_FOLDER
                 (data_collection, model_validation_deployment start paused: unpause them in the UI)
 project DB:     $REDACTED_DB
 AIRFLOW_HOME:   $AIRFLOW_HOME
 CLI, in another shell:  AIRFLOW_HOME=$AIRFLOW_HOME .venv/bin/airflow dags trigger model_training
 Ctrl-C stops Airflow.
============================================================================
MSG

exec airflow standalone
