#!/usr/bin/env bash
# Background jobs under load: 1,000 exports through gunicorn (2 workers) on PostgreSQL, taken
# from Redis by two job workers while one is SIGKILLed and started again
# (scripts/jobscheck.py). Every committed job must be done exactly once in effect, and the
# workers must drain on SIGTERM. About 80 s on a busy 2-core machine; the outer bound catches a hang.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_SERVER="${CI_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"
REDIS="${REDIS_TEST_URL:-redis://127.0.0.1:6379/15}"
timeout 175 .venv/bin/python scripts/jobscheck.py --database-server "$PG_SERVER" \
  --redis "$REDIS" --jobs 1000 --budget 160
