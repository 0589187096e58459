# Production image: a virtualenv of the locked runtime dependencies, copied into a slim image
# that runs as a non-root user. Two ways to get the dependencies (docs/deployment.md):
#   make image                                   # from the package index, through uv.lock
#   make image DEPENDENCIES=wheelhouse           # from ./wheelhouse (`make wheelhouse`), offline
# Plain `docker build` works too; `make image` adds the build info (git revision, date).
# The development image is deploy/docker/dev.Dockerfile.
# Parses and builds on Docker Engine 20.10 and later, with or without BuildKit: no syntax
# directive (it would pull a frontend image), no RUN --mount, no HEALTHCHECK --start-interval.
# The classic builder builds every stage before the target (so no stage here may need the
# network when DEPENDENCIES=wheelhouse) and copies the image at each step on some storage
# drivers: few instructions.

ARG PYTHON_VERSION=3.13

# ---- build: the locked runtime dependencies in /opt/venv, plus the generated build info ----
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG UV_VERSION=0.13.9
# index: uv sync from uv.lock; wheelhouse: pip install --no-index from ./wheelhouse.
ARG DEPENDENCIES=index
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock or the wheelhouse changes.
# `wheelhous[e]` matches nothing when there is no wheelhouse, which COPY accepts beside
# README.md (it lands in /wheelhouse as well, unused).
COPY pyproject.toml uv.lock README.md deploy/docker/install-dependencies.sh ./
COPY README.md wheelhous[e] /wheelhouse/
RUN sh install-dependencies.sh "${DEPENDENCIES}" "${UV_VERSION}"
COPY app ./app
COPY tools/__init__.py tools/build_info.py ./tools/
ARG GIT_BRANCH=""
ARG GIT_REVISION=""
ARG BUILD_DATE=""
RUN /opt/venv/bin/python -m tools.build_info \
    && /opt/venv/bin/python -m compileall -q app

# ---- runtime: only the venv and what the service reads at run time ----
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG GIT_REVISION=""
ARG BUILD_DATE=""
LABEL org.opencontainers.image.title="fastapi-service-template" \
      org.opencontainers.image.revision="${GIT_REVISION}" \
      org.opencontainers.image.created="${BUILD_DATE}"
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MALLOC_ARENA_MAX=2 \
    HOME=/tmp \
    HOST=0.0.0.0 \
    PORT=8000
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/app ./app
COPY migrations ./migrations
COPY alembic.ini gunicorn.conf.py ./
# Code stays root-owned and read-only to the service; only data/ and logs/ are its own.
RUN install -d -o app -g app /app/data /app/logs
USER 10001:10001
EXPOSE 8000
# First probe after 10 s, healthy within about 15 s of a normal start; 60 s of grace for a
# slow one. (`--start-interval` would probe faster while starting, but needs Engine 25.)
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "app.deploy", "probe", "/health/live"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
