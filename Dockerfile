# syntax=docker/dockerfile:1
# Base image pinned by digest (python:3.11-slim). Re-resolve and bump it to pick up security fixes:
#   docker buildx imagetools inspect python:3.11-slim
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# Build stage: the wheel (knowledge files, fixtures and migrations are inside it).
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
COPY cards ./cards
COPY fixtures ./fixtures
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: the installed package only; non-root; the root file system can be read-only
# (writes go to /data, a mounted volume, or to the database; gunicorn's heartbeat to /dev/shm).
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_URL=sqlite:////data/her2cds.sqlite3 \
    HER2CDS_TRIAL_OVERLAY=/data/trial-status-overlay.json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/her2cds-metrics
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-compile /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin cds \
    && mkdir -p /data /tmp/her2cds-metrics \
    && chown cds:cds /data /tmp/her2cds-metrics
USER 10001
WORKDIR /home/cds
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz/ready' % os.environ.get('PORT', '8080'), timeout=4)"]
# Workers, threads and timeouts: HER2CDS_WORKERS, HER2CDS_THREADS, HER2CDS_TIMEOUT_S, HER2CDS_GRACEFUL_TIMEOUT_S.
CMD ["her2-cds", "serve"]
