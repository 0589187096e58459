#!/usr/bin/env bash
# Hardening: schemathesis fuzzing of every API operation against a real server, on SQLite
# and on PostgreSQL (minutes, so `make test` skips it). The other attack tests in
# tests/security already ran inside `make test` on both databases.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${CI_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"
export FUZZ_MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-20}"
export FUZZ_SEED="${FUZZ_SEED:-4242}"
FUZZ=tests/security/test_schema_fuzz.py

printf '\n==== schemathesis fuzzing, %s examples per operation (SQLite) ====\n' "$FUZZ_MAX_EXAMPLES"
.venv/bin/pytest -q -p no:cacheprovider "$FUZZ"

printf '\n==== schemathesis fuzzing, %s examples per operation (PostgreSQL) ====\n' "$FUZZ_MAX_EXAMPLES"
TEST_DATABASE_URL="$PG_URL" .venv/bin/pytest -q -p no:cacheprovider "$FUZZ"
