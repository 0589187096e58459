#!/usr/bin/env bash
# The template as a product: in a copy of HEAD, scaffold `orders`; then ruff, mypy and the
# import contracts over the result, the orders tests and the whole-tree tests on SQLite and
# PostgreSQL, and /openapi.json must list the orders operations under `{order_id}`.
# (tests/scaffold/test_no_drift.py proves a scaffold is the example renamed, byte for byte.)
# Reuses this checkout's .venv through a symlink and PYTHONPATH, so nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PG_URL="${CI_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"

test -x "$ROOT/.venv/bin/python" || make install

COPY="$(mktemp -d "${TMPDIR:-/tmp}/product-ci.XXXXXX")"
trap 'rm -rf "$COPY"' EXIT
git archive HEAD | tar -x -C "$COPY"
ln -s "$ROOT/.venv" "$COPY/.venv"
cd "$COPY"

# In the copy: `--all-files` runs the fixing hooks on the working tree, and the checkout may
# hold someone's uncommitted work.
echo "-- the pre-commit hooks run (offline, from .venv)"
git init -q && git add -A && git -c user.name=ci -c user.email=ci@localhost commit -qm copy
.venv/bin/pre-commit validate-config .pre-commit-config.yaml
.venv/bin/pre-commit run --all-files --show-diff-on-failure
rm -rf .git
# The venv's editable install points at $ROOT: put the copy first on the path.
export PYTHONPATH="$COPY"
PY=.venv/bin/python

echo "-- scaffold orders in $COPY"
$PY -m tools.new_domain orders
compgen -G 'migrations/versions/*_create_orders.py' >/dev/null  # numbered after the last one

echo "-- a second run and a bad name are refused, writing nothing"
before="$(find app tests migrations pyproject.toml -type f -not -path '*/__pycache__/*' | sort | xargs sha1sum)"
if $PY -m tools.new_domain orders 2>err.txt; then echo "re-scaffolding orders succeeded"; exit 1; fi
grep -q "exists already" err.txt
if $PY -m tools.new_domain class 2>err.txt; then echo "a keyword was accepted"; exit 1; fi
grep -q "keyword" err.txt
rm -f err.txt
after="$(find app tests migrations pyproject.toml -type f -not -path '*/__pycache__/*' | sort | xargs sha1sum)"
test "$before" = "$after"

echo "-- lint, types and contracts over the tree with orders in it"
# -o: the copy shares the checkout's venv; never re-sync it from here.
make -o .venv/.installed -o .tools/bin/uv lint typecheck contracts

# The new domain's tests, and every test that looks at the whole tree (contracts, migrations,
# the scaffolder itself), on both backends; the rest of the suite is unchanged by scaffolding.
WHOLE_TREE=(tests/core/test_contracts.py tests/core/test_migrations.py
            tests/core/test_models_match_migrations.py)
echo "-- tests/orders and the whole-tree tests (SQLite)"
.venv/bin/pytest -q -p no:cacheprovider tests/orders tests/scaffold "${WHOLE_TREE[@]}"
echo "-- the same on PostgreSQL"
TEST_DATABASE_URL="$PG_URL" .venv/bin/pytest -q -p no:cacheprovider tests/orders "${WHOLE_TREE[@]}"

echo "-- /openapi.json lists the orders operations"
$PY - <<'PY'
from app.core.config import Settings
from app.main import create_app

paths = create_app(Settings(_env_file=None), configure_logging=False).openapi()["paths"]
operations = {
    (method.upper(), path)
    for path, item in paths.items()
    if path.startswith("/api/v1/orders")
    for method in item
}
expected = {
    ("POST", "/api/v1/orders"),
    ("GET", "/api/v1/orders"),
    ("GET", "/api/v1/orders/{order_id}"),
    ("PUT", "/api/v1/orders/{order_id}"),
    ("PATCH", "/api/v1/orders/{order_id}"),
    ("DELETE", "/api/v1/orders/{order_id}"),
}
missing = expected - operations
assert not missing, f"missing from /openapi.json: {sorted(missing)}"
converters = sorted(path for path in paths if ":" in path)
assert not converters, f"path converters leak into /openapi.json: {converters}"
print(f"openapi lists {len(operations)} orders operations")

from app.core.permissions import declared

mine = sorted(name for name in declared() if name.startswith("orders:"))
assert mine == ["orders:read", "orders:read_all", "orders:write", "orders:write_all"], mine
print(f"orders declares its own permissions: {', '.join(mine)}")
PY
echo "product checks passed"
