# Base image: python:3.11-slim pinned by digest. Re-resolve and bump it to pick up security fixes:
#   docker buildx imagetools inspect python:3.11-slim
# A site without access to Docker Hub passes its own mirror of it (any Debian-based image with
# Python 3.11, pip and apt): docker build --build-arg BASE_IMAGE=registry.hospital.example/python:3.11-slim .
# PIP_INDEX_URL (build argument) points pip at a PyPI mirror; the lock's hashes are checked all the same.
ARG BASE_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# Build stage: the wheel (knowledge files, fixtures and migrations are inside it), built with the
# locked build tools.
FROM ${BASE_IMAGE} AS build
ARG PIP_INDEX_URL
WORKDIR /src
COPY requirements-build.lock ./
RUN python -m pip install --no-cache-dir --require-hashes -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
COPY cards ./cards
COPY fixtures ./fixtures
RUN python -m pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

# Runtime stage: tini as PID 1 (signals reach the server from the first instant; SIGTERM before the
# server has set up its handlers still ends the container with status 0), the dependencies exactly
# as locked (hash-checked), the package, a non-root user. The root file system can be read-only:
# the service writes only to /data (the SQLite default; use PostgreSQL in production), to
# /dev/shm (Prometheus multiprocess files, gunicorn heartbeats) and, if at all, to /tmp.
FROM ${BASE_IMAGE}
ARG PIP_INDEX_URL
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_URL=sqlite:////data/her2cds.sqlite3 \
    PROMETHEUS_MULTIPROC_DIR=/dev/shm/her2cds-metrics
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.* \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.lock /tmp/requirements.lock
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock \
    && python -m pip install --no-cache-dir --no-deps /wheels/*.whl \
    && python -m pip check \
    && rm -rf /wheels /tmp/requirements.lock \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin cds \
    && mkdir -p /data \
    && chown cds:cds /data
USER 10001
WORKDIR /home/cds
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz/ready' % os.environ.get('PORT', '8080'), timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "-e", "143", "--"]
# gunicorn with gevent workers (cds_service/server.py): HER2CDS_WORKERS, HER2CDS_READ_TIMEOUT_S, HER2CDS_TIMEOUT_S, ...
CMD ["her2-cds", "serve"]
