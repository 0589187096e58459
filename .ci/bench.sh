#!/usr/bin/env bash
# The benchmark in smoke mode: every scenario under gunicorn and uvicorn, a few hundred
# requests each, failing on any error. Timings are never judged here (the machine is shared).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DATABASE="${CI_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/postgres}" \
  make bench-smoke

# The one-process measurement: each request answered 2xx (timings not judged).
.venv/bin/python -m bench.inprocess --requests 20 \
  --database "${CI_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/postgres}"
