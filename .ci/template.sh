#!/usr/bin/env bash
# The template's life after day one (docs/template.md), on scratch copies of HEAD:
#  1. generate and rename: Copier makes a service with no optional part at HEAD (its names
#     come from the rename task); no file outside history names the template; then
#     `make rename` renames it again, and `make test` and the README's commands (domain,
#     migrate, run) pass under the new names on SQLite.
#  2. update: Copier makes a service with every part at the previous release; the team adds a
#     domain and edits a core module and a test; `copier update` to HEAD. The result must be
#     exactly a fresh HEAD service plus the team's changes, with no conflict; lint, types,
#     contracts and the tests of what changed (the new domain, the tests the update touched,
#     the team's test, the deployment and rename tests, the whole-tree tests) pass on SQLite
#     and PostgreSQL. The rest of that suite is the template's own, run in full by step 1
#     and by `make test` in .ci/run.
# In a service made from the template (no copier.yml), step 1 renames a plain copy and step 2
# is skipped. Tags may be missing (a fresh clone, a rebased branch): a release's commit is the
# one that added its heading to CHANGELOG.md, and it is tagged in the scratch clone only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PG_URL="${CI_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/template-ci.XXXXXX")"
SERVER_PID=""

section() { printf '\n---- %s ----\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

test -x "$ROOT/.venv/bin/copier" || make install
COPIER="$ROOT/.venv/bin/copier"
# The uv that `make` installs into .tools/ works for any project: share it.
share_tools() { ln -s "$ROOT/.tools" .tools; }
# identity FIELD: the name, code or package the tree in the current folder declares.
identity() { python3 -c "import pathlib, tools.rename as r; print(r.current(pathlib.Path('.')).$1)"; }
# Files that still name NAME, PACKAGE or urn:CODE:, history and tool state aside.
names_left() {
  grep -rIl --exclude-dir={.git,.venv,.tools,__pycache__,.mypy_cache,.ruff_cache,.pytest_cache,data,logs} \
    --exclude={CHANGELOG.md,upgrading.md,.copier-answers.yml} -e "$1" -e "$3" -e "urn:$2:" . || true
}
TEMPLATE_NAMES=("$(identity name)" "$(identity code)" "$(identity package)")

PREVIOUS=""
if [[ -f copier.yml ]]; then
  section "the template's releases (CHANGELOG.md), tagged in a scratch clone"
  git clone -q "$ROOT" "$SCRATCH/template"
  cd "$SCRATCH/template"
  HEAD_COMMIT="$(git rev-parse HEAD)"
  while read -r version; do
    commit="$(git rev-parse -q --verify "refs/tags/v$version^{commit}" || true)"
    # A tag left on a commit a rebase replaced is not this history's release.
    if [[ -z "$commit" ]] || ! git merge-base --is-ancestor "$commit" HEAD; then
      commit="$(git log --format=%H -S"## $version " -- CHANGELOG.md | tail -1)"
      [[ -n "$commit" ]] || fail "release $version has no tag and no commit adding its heading"
      git tag -f "v$version" "$commit" >/dev/null
    fi
    echo "release $version: $commit"
    if [[ -z "$PREVIOUS" && "$commit" != "$HEAD_COMMIT" ]]; then PREVIOUS="$version"; fi
  done < <(grep -oP '^## \K[0-9]+\.[0-9]+\.[0-9]+(?= )' CHANGELOG.md)

  section "1. generate a service with no optional part at HEAD"
  "$COPIER" copy --trust --defaults --quiet --vcs-ref HEAD -d name="Billing Service" \
    -d code=bil -d package=billing-service -d 'parts=[]' "$SCRATCH/template" "$SCRATCH/first" \
    >/dev/null
  cd "$SCRATCH/first"
  for gone in copier.yml CHANGELOG.md deploy/k8s app/core/ratelimit_redis.py; do
    [[ ! -e "$gone" ]] || fail "$gone is in a service without optional parts"
  done
  [[ "$(identity package)" == billing-service ]] || fail "Copier's rename task did not run"
else
  section "1. a copy of this service"
  mkdir "$SCRATCH/first" && git archive HEAD | tar -x -C "$SCRATCH/first"
  cd "$SCRATCH/first"
fi
left="$(names_left "${TEMPLATE_NAMES[@]}")"
[[ -z "$left" ]] || fail "these still name the template: $left"
echo "no file outside history names '${TEMPLATE_NAMES[0]}', '${TEMPLATE_NAMES[2]}' or urn:${TEMPLATE_NAMES[1]}:"

section "1. make rename, then make test and the README's commands under the new names"
share_tools
BEFORE=("$(identity name)" "$(identity code)" "$(identity package)")
# Names no service has, so this works in a service made from the template as well.
make --no-print-directory rename name="Renamed Check" code=rnc package=renamed-check
left="$(names_left "${BEFORE[@]}")"
[[ -z "$left" ]] || fail "after make rename these still name '${BEFORE[0]}': $left"
make --no-print-directory install >/dev/null
.venv/bin/renamed-check --help >/dev/null || fail "the console script is not renamed-check"
make --no-print-directory test COV=
make --no-print-directory domain name=orders >/dev/null
make --no-print-directory migrate >/dev/null
PORT="$(.venv/bin/python -c 'import tests.servers as s; print(s.reserve_port())')"
setsid make --no-print-directory run PORT="$PORT" >"$SCRATCH/run.log" 2>&1 &
SERVER_PID=$!
.venv/bin/python - "$PORT" <<'PY' || { cat "$SCRATCH/run.log"; exit 1; }
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
deadline = time.monotonic() + 120
while True:
    try:
        with urllib.request.urlopen(base + "/health/ready", timeout=2) as response:
            if response.status == 200:
                break
    except OSError:
        if time.monotonic() > deadline:
            raise SystemExit("make run: not ready in 120 s")
        time.sleep(0.5)
with urllib.request.urlopen(base + "/api/v1/version", timeout=5) as response:
    assert json.load(response)["service"] == "Renamed Check"
with urllib.request.urlopen(base + "/openapi.json", timeout=5) as response:
    assert "/api/v1/orders" in json.load(response)["paths"]
print("make run serves Renamed Check with its orders domain")
PY
kill -TERM -- "-$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

if [[ ! -f "$ROOT/copier.yml" ]]; then
  echo "SKIPPED: 2. update: this is a service made from the template (no copier.yml)"
  exit 0
fi
if [[ -z "$PREVIOUS" ]]; then
  echo "SKIPPED: 2. update: CHANGELOG.md has no release before HEAD to update from"
  exit 0
fi
section "2. a service made at v$PREVIOUS with every part, the team's work, copier update to HEAD"
ANSWERS=(-d name="Orders Service" -d code=ord -d package=orders-service)
"$COPIER" copy --trust --defaults --quiet --vcs-ref "v$PREVIOUS" "${ANSWERS[@]}" \
  "$SCRATCH/template" "$SCRATCH/service" >/dev/null
cd "$SCRATCH/service" && share_tools
commit() { git add -A && git -c user.name=ci -c user.email=ci@localhost commit -qm "$1"; }
git init -q && echo .tools >>.git/info/exclude && commit "generated at v$PREVIOUS"
GENERATED="$(git rev-parse HEAD)"
make --no-print-directory domain name=orders >/dev/null
# The team edits the end of a core module and of a test file, preferring ones the template
# changed since that release, so the update merges both sides inside the same files.
changed() { git -C "$SCRATCH/template" diff --name-only --diff-filter=M "v$PREVIOUS" HEAD -- "$@"; }
CORE="$( (changed 'app/core/*.py'; echo app/core/config.py) | grep -v __init__ | sed -n 1p)"
TEST="$( (changed 'tests/core/test_*.py'; echo tests/core/test_config.py) | sed -n 1p)"
MODULE="$(basename "$CORE" .py)"
printf '\n\n# The team'"'"'s own, kept across template updates.\nTEAM_EDIT = "kept"\n' >>"$CORE"
cat >>"$TEST" <<PY


def test_the_team_keeps_its_own_edit() -> None:
    """The team's own test, written after generation."""
    from app.core import $MODULE as edited

    assert edited.TEAM_EDIT == "kept"
PY
.venv/bin/ruff format -q "$CORE" "$TEST"
echo "the team edited $CORE and $TEST"
commit "the team's domain and edits"
TEAM="$(git rev-parse HEAD)"

"$COPIER" update --trust --defaults --quiet --vcs-ref HEAD >/dev/null
# Copier marks a conflict in the index as git merge does; the comparison below catches the rest.
[[ -z "$(git ls-files --unmerged)" ]] || fail "conflicts: $(git diff --name-only --diff-filter=U)"
[[ -z "$(find . -name '*.rej' -not -path './.venv/*')" ]] || fail "rejected hunks left behind"
test -f app/orders/router.py && test -f tests/orders/test_crud.py || fail "the orders domain is gone"
grep -q '^TEAM_EDIT = "kept"' "$CORE" || fail "the team's edit to $CORE is gone"
grep -q 'def test_the_team_keeps_its_own_edit' "$TEST" || fail "the team's test in $TEST is gone"
! grep -qx "_commit: v$PREVIOUS" .copier-answers.yml || fail "the answers still record v$PREVIOUS"

# Expected: a service made fresh at HEAD with the same answers, plus the team's changes.
"$COPIER" copy --trust --defaults --quiet --vcs-ref HEAD "${ANSWERS[@]}" \
  "$SCRATCH/template" "$SCRATCH/expected" >/dev/null
# One line of context: a release may change lines near a team's edit (the routers around the
# team's domain in app/main.py), which Copier merges; each hunk must still land in its place.
git diff --binary --unified=1 "$GENERATED" "$TEAM" >"$SCRATCH/team.patch"
git -C "$SCRATCH/expected" apply "$SCRATCH/team.patch" \
  || fail "the team's changes do not apply to a fresh HEAD service"
diff -r -q -x .git -x .venv -x .tools -x __pycache__ -x '*.pyc' -x .mypy_cache -x .ruff_cache \
  -x .pytest_cache -x data -x .coverage "$SCRATCH/expected" . \
  || fail "the updated service differs from a fresh HEAD service plus the team's changes"
git add -A
arrived="$(git diff --cached --stat "$TEAM" | tail -1)"
echo "updated from v$PREVIOUS: the team's domain and edits kept; the template's changes: ${arrived:-none}"

make --no-print-directory install >/dev/null
make --no-print-directory -o .venv/.installed lint typecheck contracts
mapfile -t touched < <(git diff --cached --name-only --diff-filter=AM "$TEAM" -- tests \
  | grep '/test_[^/]*\.py$' || true)
SUBSET=(tests/orders "$TEST" tests/deploy tests/scaffold/test_rename.py
        tests/security/test_ratelimit_redis.py tests/core/test_contracts.py
        tests/core/test_migrations.py tests/core/test_models_match_migrations.py "${touched[@]}")
echo "tests: ${SUBSET[*]}"
.venv/bin/pytest -q -p no:cacheprovider "${SUBSET[@]}"
TEST_DATABASE_URL="$PG_URL" .venv/bin/pytest -q -p no:cacheprovider "${SUBSET[@]}"
echo "template checks passed"
