#!/usr/bin/env bash
# Production serving under load: gunicorn with 2 workers on PostgreSQL through SIGHUP,
# max_requests recycling, a SIGKILLed worker and SIGTERM (scripts/loadcheck.py --short).
# Fails CI when any of its checks fails. About 20 s; gunicorn gets a free port from the OS and
# up to 120 s to get ready on a loaded machine, so the outer bound only catches a hang.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_SERVER="${CI_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"
timeout 600 .venv/bin/python scripts/loadcheck.py --short \
  --database-server "$PG_SERVER"
