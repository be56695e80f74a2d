# One image for the FastAPI service and every Airflow component (so tasks import src/ and
# torch): Python 3.11, CPU-only PyTorch, the project installed with the airflow extra,
# running as a non-root user.  Used by docker-compose.yml and .devcontainer/.  Needs BuildKit
# (the default builder since Docker 23; on Docker 20.10 install the buildx plugin).
#
#   docker build -t loan-default-mlops .                                   # runtime image
#   docker build --build-arg INSTALL_DEV=true -t loan-default-mlops:dev .  # + test tools
#
# Air-gapped (docs/docker.md): BASE_IMAGE names a Python 3.11 image you can pull or built with
# scripts/base_images.sh; a torch wheel in wheelhouse/ replaces TORCH_INDEX_URL; PEM files in
# docker/ca-certificates/ are trusted by pip (a proxy that re-signs TLS).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# CPU wheels: the default PyPI torch wheel pulls ~3 GB of CUDA libraries.  Any index that
# serves CPU wheels works (a mirror of it, or a PyPI proxy); ignored when wheelhouse/ holds
# a torch wheel.
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
COPY docker/pip-install.sh /usr/local/bin/pip-install

# 0) A current pip: older ones (Debian's 23.0, say) backtrack for many minutes over the
#    dev extra's dependencies.
RUN --mount=type=bind,source=docker/ca-certificates,target=/build-ca \
    pip-install --upgrade "pip>=25"

# 1) PyTorch (CPU) first, so the project's `torch` requirement is already satisfied.  From the
#    wheelhouse when it has one (its dependencies from PyPI), else from TORCH_INDEX_URL.
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=bind,source=docker/ca-certificates,target=/build-ca \
    if ls /wheelhouse/torch-*.whl >/dev/null 2>&1; then \
      pip-install --no-index --no-deps --find-links /wheelhouse "${TORCH_SPEC}" \
      && pip-install "${TORCH_SPEC}"; \
    else \
      pip-install --index-url "${TORCH_INDEX_URL}" "${TORCH_SPEC}"; \
    fi

# 2) Dependencies only (cached until pyproject.toml changes): install against stub packages,
#    then drop the stub distribution.
ARG INSTALL_DEV=false
COPY pyproject.toml README.md ./
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=bind,source=docker/ca-certificates,target=/build-ca \
    mkdir -p src config \
 && touch src/__init__.py config/__init__.py \
 && if [ "${INSTALL_DEV}" = "true" ]; then extras="airflow,dev"; else extras="airflow"; fi \
 && pip-install ".[${extras}]" \
 && pip uninstall -y loan-default-mlops \
 && rm -rf src config build *.egg-info

# 3) The project itself, editable so that src/ (with its Alembic migrations) stays at /app.
COPY config ./config
COPY src ./src
COPY airflow ./airflow
COPY scripts ./scripts
RUN --mount=type=bind,source=docker/ca-certificates,target=/build-ca \
    pip-install --no-deps -e . \
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
