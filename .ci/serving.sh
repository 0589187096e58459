#!/usr/bin/env bash
# Production serving under load: gunicorn with 2 workers on PostgreSQL through SIGHUP,
# max_requests recycling, a SIGKILLed worker and SIGTERM (scripts/loadcheck.py --short).
# Fails CI when any of its checks fails. About 20 s.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_SERVER="${CI_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"
timeout 120 .venv/bin/python scripts/loadcheck.py --short --port 18151 \
  --database-server "$PG_SERVER"
