# syntax=docker/dockerfile:1
# Production image: a virtualenv built from uv.lock, copied into a slim image that runs as a
# non-root user. Build info comes from build args (see `make image`):
#   docker build --build-arg GIT_REVISION="$(git rev-parse HEAD)" -t fastapi-service-template .
# Development image (dev dependencies, uvicorn --reload on a mounted checkout):
#   docker build --target dev -t fastapi-service-template:dev .

ARG PYTHON_VERSION=3.13

# ---- build: the locked runtime dependencies in /opt/venv, plus the generated build info ----
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY app ./app
COPY tools/__init__.py tools/build_info.py ./tools/
ARG GIT_BRANCH=""
ARG GIT_REVISION=""
ARG BUILD_DATE=""
RUN /opt/venv/bin/python -m tools.build_info \
    && /opt/venv/bin/python -m compileall -q app

# ---- dev: dev dependencies too; mount the checkout on /src and reload on change ----
FROM build AS dev
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-install-project
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app \
    && install -d -o app -g app /src/data /src/logs
USER 10001:10001
EXPOSE 8000
CMD ["uvicorn", "app.main:app", "--reload", "--host", "0.0.0.0", "--port", "8000"]

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
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --start-interval=2s --retries=3 \
    CMD ["python", "-m", "app.deploy", "probe", "/health/live"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
