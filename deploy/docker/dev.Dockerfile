# Development image: every dependency group of uv.lock, the checkout mounted on /src, and
# uvicorn reloading on change (docker compose --profile dev up --build app-dev):
#   docker build -f deploy/docker/dev.Dockerfile -t fastapi-service-template:dev .
# Kept apart from the production Dockerfile: the classic builder builds every stage before
# the target, and this one needs the package index.

ARG PYTHON_VERSION=3.13
FROM python:${PYTHON_VERSION}-slim-bookworm
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000
WORKDIR /src
COPY pyproject.toml uv.lock README.md deploy/docker/install-dependencies.sh ./
RUN sh install-dependencies.sh index "${UV_VERSION}" \
    && sh install-dependencies.sh index-dev \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app \
    && install -d -o app -g app /src/data /src/logs
USER 10001:10001
EXPOSE 8000
CMD ["uvicorn", "app.main:app", "--reload", "--host", "0.0.0.0", "--port", "8000"]
