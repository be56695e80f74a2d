#!/usr/bin/env bash
# The whole loop on the embedded SQLite database, with real lending_club loans:
# init-db -> collect part -> train -> collect the rest -> validate -> (retrain -> deploy)
# -> registry and one sample prediction.  Run it with `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-sqlite:///./data/demo.db}"
case "$DATABASE_URL" in
  sqlite:///*) rm -f "${DATABASE_URL#sqlite:///}" "${DATABASE_URL#sqlite:///}"-wal "${DATABASE_URL#sqlite:///}"-shm ;;
esac
start=$(date +%s)
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/7 init-db"
loan-default init-db
step "2/7 collect the first 6,000 loans (data date 2026-01-01)"
loan-default collect --source lending_club --batch-size 6000 --data-date 2026-01-01
step "3/7 train: contrastive pretraining + fine-tuning"
loan-default train
step "4/7 collect the remaining loans (data date 2026-01-02)"
loan-default collect --source lending_club --data-date 2026-01-02
step "5/7 validate the active model on the newly labelled loans"
decision=$(loan-default validate --json)
python -c 'import json,sys; d=json.load(sys.stdin); print("decision:", "RETRAIN" if d["retrain"] else "keep", "-", d["reason"])' <<<"$decision"
if python -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["retrain"] else 1)' <<<"$decision"; then
  step "6/7 retrain on all loans, then deploy through the champion/challenger gate"
  loan-default train
  loan-default deploy
else
  step "6/7 no retraining needed"
fi
step "7/7 registry and a sample prediction"
loan-default models
loan-default predict --json examples/request.json --explain
echo
echo "pipeline wall time: $(( $(date +%s) - start )) s"
