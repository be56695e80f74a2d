# syntax=docker/dockerfile:1
# One image for the FastAPI service and every Airflow component (so tasks import src/ and
# torch): Python 3.11 slim, CPU-only PyTorch, the project installed with the airflow extra,
# running as a non-root user.  Used by docker-compose.yml and .devcontainer/.
#
#   docker build -t loan-default-mlops .                       # runtime image
#   docker build --build-arg INSTALL_DEV=true -t loan-default-mlops:dev .   # + test tools
FROM python:3.11-slim

ARG INSTALL_DEV=false
# CPU wheels: the default PyPI torch wheel pulls ~3 GB of CUDA libraries.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_SPEC="torch>=2.4,<2.14"
ARG APP_UID=50000

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    MODEL_PATH=/app/models

WORKDIR /app

# 1) PyTorch (CPU) first, so the project's `torch` requirement is already satisfied.
RUN pip install --index-url "${TORCH_INDEX_URL}" "${TORCH_SPEC}"

# 2) Dependencies only (cached until pyproject.toml changes): install against stub packages,
#    then drop the stub distribution.
COPY pyproject.toml README.md ./
RUN mkdir -p src config \
 && touch src/__init__.py config/__init__.py \
 && if [ "${INSTALL_DEV}" = "true" ]; then extras="airflow,dev"; else extras="airflow"; fi \
 && pip install ".[${extras}]" "apache-airflow-providers-celery>=3.10" \
 && pip uninstall -y loan-default-mlops \
 && rm -rf src config build *.egg-info

# 3) The project itself, editable so that src/ (with its Alembic migrations) stays at /app.
COPY config ./config
COPY src ./src
COPY airflow ./airflow
COPY scripts ./scripts
RUN pip install --no-deps -e . \
 && useradd --create-home --uid "${APP_UID}" --gid 0 --shell /bin/bash mlops \
 && mkdir -p /opt/airflow/dags /opt/airflow/logs /opt/airflow/auth /app/models /app/data \
 && cp -r airflow/dags/. /opt/airflow/dags/ \
 && chown -R mlops:0 /opt/airflow /app \
 && chmod -R g+rwX /opt/airflow /app

USER mlops

EXPOSE 8000 8080
# The API by default; compose gives each Airflow service its own command.
# `loan-default serve`: uvicorn with API_TIMEOUT_KEEP_ALIVE_SECONDS / API_LIMIT_CONCURRENCY.
CMD ["loan-default", "serve", "--host", "0.0.0.0", "--port", "8000"]
