# One image for every process of the platform. Pick the process with the command:
#   dagster-webserver -h 0.0.0.0 -p 3000 -w workspace.yaml     Dagster UI
#   dagster-daemon run -w workspace.yaml                       sensors, schedules, run queue
#   dagster code-server start -h 0.0.0.0 -p 4000 -m credit_assets.definitions   user code (Helm)
#   credit-platform serve --host 0.0.0.0 --port 8000 --workers 2                scoring API
#   dagster-celery worker start -A dagster_celery.app -y deploy/celery.yaml   Celery worker (CREDIT_EXECUTOR=celery)
# Configuration comes from the environment only (CREDIT_*, DAGSTER_HOME, AWS_*); see .env.example.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# Dependencies first so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p credit_assets scoring_api && touch credit_assets/__init__.py scoring_api/__init__.py \
    && pip install --upgrade pip && pip install -e . && rm -rf credit_assets scoring_api
COPY credit_assets ./credit_assets
COPY scoring_api ./scoring_api
COPY contracts ./contracts
COPY workspace.yaml dagster.yaml ./
COPY deploy ./deploy
# The code location is found through pyproject.toml ([tool.dg]), so the source stays at /app.
RUN pip install --no-deps -e .

FROM python:3.11-slim-bookworm AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system credit && useradd --system --gid credit --home-dir /app credit
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=credit:credit /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CREDIT_HOME=/var/lib/credit \
    DAGSTER_HOME=/var/lib/credit/dagster
RUN mkdir -p /var/lib/credit/dagster && cp /app/dagster.yaml /var/lib/credit/dagster/ \
    && chown -R credit:credit /var/lib/credit
WORKDIR /app
USER credit
EXPOSE 3000 4000 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import credit_assets" || exit 1
CMD ["credit-platform", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
