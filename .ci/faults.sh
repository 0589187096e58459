#!/usr/bin/env bash
# The database edge under faults (scripts/faultcheck.py): PostgreSQL stopped, frozen by
# SIGSTOP, a table locked past the statement timeout, the pool saturated by 256 connections.
# It makes and removes its own PostgreSQL cluster (Debian's initdb/pg_ctl, run as the
# postgres user when CI runs as root) and its own gunicorn. About 70 s; the outer bound only
# catches a hang (the script cleans up on SIGTERM).
set -euo pipefail
cd "$(dirname "$0")/.."
timeout 600 .venv/bin/python scripts/faultcheck.py
