#!/usr/bin/env bash
# Post-deployment monitoring on real lending_club loans, over real HTTP (`make monitor-demo`):
# collect -> train -> serve -> held-out applicants -> shifted applicants -> validate (drift
# rules fire) -> outcomes of the first batch -> realised vs CBPE-estimated performance.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-sqlite:///./data/monitor_demo.db}"
# Outcomes arrive minutes after the predictions here, not a year later: all have matured.
export OUTCOME_WINDOW_DAYS=0
case "$DATABASE_URL" in
  sqlite:///*) rm -f "${DATABASE_URL#sqlite:///}" "${DATABASE_URL#sqlite:///}"-wal "${DATABASE_URL#sqlite:///}"-shm ;;
esac
port="${MONITOR_DEMO_PORT:-8765}"
start=$(date +%s)
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "init-db, collect lending_club, train"
loan-default init-db
loan-default collect --source lending_club
loan-default train --no-progress
step "serve on 127.0.0.1:$port"
loan-default serve --host 127.0.0.1 --port "$port" > data/monitor_demo_api.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if python -c "import httpx,sys; sys.exit(httpx.get('http://127.0.0.1:$port/ready').status_code != 200)" 2>/dev/null; then break; fi
  sleep 0.5
done
python -m scripts.monitor_scenario --base-url "http://127.0.0.1:$port" --workdir data/monitor_demo
echo
echo "monitor-demo wall time: $(( $(date +%s) - start )) s"
