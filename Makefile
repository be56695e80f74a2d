# Two commands for a new user: `make demo` and `make test` (`make test-fast` while editing).
VENV    ?= .venv
PYTHON  ?= python3
BIN      = $(VENV)/bin
DEMO_DB ?= sqlite:///./data/demo.db
# Tests use their own throw-away databases on this server (created and dropped per run).
TEST_ADMIN_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
export TEST_ADMIN_DATABASE_URL

.PHONY: install demo monitor-demo test test-fast lint format airflow airflow-smoke airflow-celery-smoke compose-check compose-smoke serve bench bench-quick clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: install
	DATABASE_URL=$(DEMO_DB) PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# Drift, outcomes and estimated performance after deployment, over real HTTP (docs/monitoring.md).
monitor-demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/monitor_demo.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest

# The edit loop: unit tests only (marker `unit`, set by folder in tests/conftest.py), no
# database or other service, and no test that trains a model (`slow`); well under 2 minutes.
test-fast: install
	$(BIN)/pytest tests/unit -m "unit and not slow" --timeout 60 -q

# docker-compose.yml needs Docker Compose >= 2.24: says which one this machine has.
compose-check:
	@bash scripts/check_compose.sh

# The container stack for real (as root: installs Docker and starts dockerd if absent, then
# stops it and restores the firewall): build, up, the reference commands, Celery, down -v.
compose-smoke: install
	$(BIN)/python scripts/compose_smoke.py

# Serves what `make demo` built unless DATABASE_URL is set (environment or .env).
serve: install
	@if [ -z "$${DATABASE_URL:-}" ] && ! grep -qs '^DATABASE_URL=' .env; then \
	  echo "serving the demo database $(DEMO_DB) (set DATABASE_URL to serve another)"; \
	  DATABASE_URL=$(DEMO_DB) $(BIN)/loan-default serve; \
	else $(BIN)/loan-default serve; fi

airflow: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/airflow_local.sh

airflow-smoke: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/airflow_smoke.sh

# CeleryExecutor for real (Redis on 127.0.0.1:6379, two workers): batch_scoring over 200,000
# rows exactly once, then again with one worker SIGKILLed mid-range (docs/scale-out.md).
airflow-celery-smoke: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/airflow_celery_smoke.py

bench: install
	$(BIN)/python bench/model_quality.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/calibration.py
	$(BIN)/python bench/monitoring.py
	$(BIN)/python bench/report.py

bench-quick: install
	$(BIN)/pytest tests/bench

clean:
	rm -rf $(VENV) data/*.db* .pytest_cache .ruff_cache
