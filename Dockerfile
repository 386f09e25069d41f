# syntax=docker/dockerfile:1
# AquaLab: a slim, non-root runtime image (docs/deploy.md).
#   docker build -t aqualab .
#   docker compose up -d          (PostgreSQL 15 + a one-shot `migrate` + the app)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: every wheel the app needs, built once -------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY application ./application
COPY adapters ./adapters
COPY entrypoints ./entrypoints
COPY migrations ./migrations
RUN pip wheel --wheel-dir /wheels .

# --- runtime: the wheels, pg_dump/pg_restore 15, an unprivileged user --------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/aqualab/bin:$PATH
# postgresql-client-15 (Debian bookworm's) gives `aqualab backup|restore` their tools.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/aqualab \
    && /opt/aqualab/bin/pip install --no-index --find-links=/wheels aqualab
RUN groupadd --system --gid 10001 aqualab \
    && useradd --system --uid 10001 --gid aqualab --home-dir /var/lib/aqualab \
       --shell /usr/sbin/nologin aqualab \
    && install -d -o aqualab -g aqualab -m 0750 /var/lib/aqualab /var/lib/aqualab/backups
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/aqualab-entrypoint

# Listen on every interface inside the container; gunicorn with 2 workers by default
# (WORKERS=0 serves with one waitress process instead). Secrets come from the environment.
ENV AQUALAB_ENV=production \
    AQUALAB_VAR_DIR=/var/lib/aqualab \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=2
WORKDIR /var/lib/aqualab
USER aqualab:aqualab
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health/ready' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["aqualab-entrypoint"]
CMD ["serve"]
