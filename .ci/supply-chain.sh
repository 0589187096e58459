#!/usr/bin/env bash
# Supply chain: no new secret in the tree (detect-secrets against the committed, audited
# .secrets.baseline), the locked runtime dependencies audited for known vulnerabilities
# (pip-audit, the index's vulnerability data). The SBOM `make wheelhouse` writes is checked
# where the wheelhouse is built (.ci/check-sbom.sh from .ci/image.sh). Needs `make install`.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="$PWD/.venv/bin"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

section() { printf '\n==== %s ====\n' "$*"; }
loud() { printf '\n!!!!!!!! %s !!!!!!!!\n\n' "$*"; }

section "secrets: detect-secrets over the tracked files, against .secrets.baseline"
start=$SECONDS
# A fresh scan compared by (file, type, hash): moved lines are not new secrets.
"$BIN/detect-secrets" scan --exclude-files '^\.secrets\.baseline$' >"$WORK/scan.json"
"$BIN/python" - .secrets.baseline "$WORK/scan.json" <<'PY'
import json, sys
def findings(path):
    results = json.load(open(path, encoding="utf-8"))["results"]
    return {(name, item["type"], item["hashed_secret"]): item["line_number"]
            for name, items in results.items() for item in items}
known, found = findings(sys.argv[1]), findings(sys.argv[2])
new = sorted(set(found) - set(known))
for name, kind, _ in new:
    print(f"new possible secret: {name}:{found[(name, kind, _)]} ({kind})")
if new:
    print("\nIf these are test values, not secrets: .venv/bin/detect-secrets scan --baseline "
          ".secrets.baseline && .venv/bin/detect-secrets audit .secrets.baseline, then commit it.")
    sys.exit(1)
print(f"no new secrets ({len(found)} findings, all in the audited baseline)")
PY
echo "detect-secrets: $((SECONDS - start))s"

section "vulnerabilities: pip-audit of the locked runtime dependencies"
start=$SECONDS
.tools/bin/uv export --frozen --no-dev --no-emit-project --format requirements.txt \
  --output-file "$WORK/requirements.txt" >/dev/null
status=0
"$BIN/pip-audit" --strict --disable-pip --require-hashes --progress-spinner off \
  -r "$WORK/requirements.txt" >"$WORK/audit.txt" 2>&1 || status=$?
if ((status == 0)); then
  cat "$WORK/audit.txt"
elif grep -qiE "known vulnerabilit" "$WORK/audit.txt" && ! grep -q "No known vulnerabilities" "$WORK/audit.txt"; then
  cat "$WORK/audit.txt"; exit 1
elif grep -q "could not be audited" "$WORK/audit.txt"; then
  grep -m3 "could not be audited" "$WORK/audit.txt"
  loud "SKIPPED: the index here has no per-version vulnerability data (pypi.org/pypi/NAME/VERSION/json): pip-audit could NOT audit the lock on this machine; it runs where pypi.org answers"
else
  cat "$WORK/audit.txt"; exit 1
fi
echo "pip-audit: $((SECONDS - start))s"
