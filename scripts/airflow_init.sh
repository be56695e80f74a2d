#!/usr/bin/env bash
# One-shot initialisation of the compose stack (service `init`); safe to run again.
#   1. project schema: `loan-default init-db` (Alembic upgrade head on DATABASE_URL)
#   2. Airflow metadata database: `airflow db migrate`
#   3. Airflow admin user: the simple auth manager's password file, from AIRFLOW_ADMIN_PASSWORD
set -euo pipefail
: "${AIRFLOW_ADMIN_PASSWORD:?AIRFLOW_ADMIN_PASSWORD must be set (see .env.example)}"
: "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?must point at the shared auth volume}"

echo "[init] project database schema"
loan-default init-db

echo "[init] Airflow metadata database"
airflow db migrate

echo "[init] Airflow admin user (simple auth manager)"
umask 077
mkdir -p "$(dirname "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")"
python - <<'PY'
import json
import os

users = [u.split(":")[0] for u in os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin").split(",") if u.strip()]
if users != ["admin"]:
    raise SystemExit(f"expected only the admin user, got {users}")
path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
with open(path, "w") as fh:
    json.dump({"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}, fh)
    fh.write("\n")
print(f"[init] password of user 'admin' written to {path}")
PY
echo "[init] done"
