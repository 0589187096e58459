#!/usr/bin/env bash
# Shipping checks: Dockerfile lint, Kubernetes/compose/CI-template validation (offline schemas),
# the air-gapped install (wheelhouse -> fresh venv with --no-index, no network -> migrate a
# fresh SQLite database -> gunicorn answers /health/ready), and the docs in headless chromium.
# Needs `make install` first (.ci/run has done it). Servers bind ports the OS hands out.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="$PWD/.venv/bin"
FREE_PORT='import tests.servers as s; print(s.reserve_port())'
INSTALL_PORT="${SHIP_INSTALL_PORT:-$("$BIN/python" -c "$FREE_PORT")}"
WORK="$(mktemp -d)"
SERVER_PID=""

section() { printf '\n==== %s ====\n' "$*"; }

# wait_ready PID LOG PROBE...: run PROBE until it succeeds. A loaded machine may take up to
# 120 s; a server that has exited fails at once, with its log.
wait_ready() {
  local pid=$1 log=$2 deadline=$((SECONDS + 120))
  shift 2
  until "$@"; do
    kill -0 "$pid" 2>/dev/null || { echo "exited while starting:"; cat "$log"; return 1; }
    ((SECONDS < deadline)) || { echo "not ready in 120 s:"; cat "$log"; return 1; }
    sleep 0.25
  done
}

cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

for needed in gunicorn.conf.py alembic.ini migrations/env.py; do
  [[ -f "$needed" ]] || { echo "$needed is missing: the image and the wheel ship it"; exit 1; }
done

section "hadolint Dockerfile deploy/docker/dev.Dockerfile"
"$BIN/hadolint" Dockerfile deploy/docker/dev.Dockerfile && echo "hadolint: no findings"

section "Kubernetes manifests (kubernetes-validate --strict, offline schemas)"
if [[ ! -d deploy/k8s ]]; then
  echo "SKIPPED: no deploy/k8s (this service was generated without the Kubernetes manifests)"
else
  mapfile -t manifests < <(find deploy/k8s -name '*.yaml' ! -name kustomization.yaml | sort)
  "$BIN/kubernetes-validate" --strict --quiet "${manifests[@]}"
  echo "${#manifests[@]} manifests valid"
  if command -v kubectl >/dev/null 2>&1; then
    kubectl kustomize deploy/k8s >"$WORK/rendered.yaml"
    "$BIN/kubernetes-validate" --strict --quiet "$WORK/rendered.yaml"
    echo "kustomize build valid ($(grep -c '^kind:' "$WORK/rendered.yaml") resources)"
  fi
fi

section "compose file and CI templates (check-jsonschema, vendored schemas)"
"$BIN/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
"$BIN/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/ci.yml
"$BIN/check-jsonschema" --builtin-schema vendor.gitlab-ci .gitlab-ci.yml

section "air-gapped install: make wheelhouse"
start=$SECONDS
make --no-print-directory wheelhouse WHEELHOUSE="$WORK/wheelhouse" >"$WORK/wheelhouse.log" 2>&1 \
  || { cat "$WORK/wheelhouse.log"; exit 1; }
echo "$(ls "$WORK"/wheelhouse/*.whl | wc -l) wheels, $(du -sh "$WORK/wheelhouse" | cut -f1), $((SECONDS - start))s"

# No network at all when unshare can make an empty network namespace (root); else at least
# no index, no pip configuration and no inherited environment.
OFFLINE=()
if unshare -n true 2>/dev/null; then
  OFFLINE=(unshare -n)
  echo "install and serve run in a network namespace with only loopback"
fi
mkdir -p "$WORK/run"
cat >"$WORK/offline.sh" <<SCRIPT
set -euo pipefail
$(declare -f wait_ready)
ip link set lo up 2>/dev/null || true
export PATH=/usr/local/bin:/usr/bin:/bin HOME="$WORK" PIP_CONFIG_FILE=/dev/null
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check --no-index \
  --find-links "$WORK/wheelhouse" fastapi-service-template
cd "$WORK/run"
installed=\$("$WORK/venv/bin/python" -c 'import app; print(app.__file__)')
case "\$installed" in "$WORK/venv/"*) ;; *) echo "app imported from \$installed"; exit 1;; esac
export DATABASE_URL="sqlite+aiosqlite:///$WORK/run/data/app.db" HOST=127.0.0.1 \
  PORT=$INSTALL_PORT WORKERS=2 LEVEL=WARNING DOCS_ENABLED=true
"$WORK/venv/bin/service-deploy" migrate
"$WORK/venv/bin/fastapi-service-template" create-superuser
"$WORK/venv/bin/service-deploy" serve >"$WORK/gunicorn.log" 2>&1 &
pid=\$!
wait_ready \$pid "$WORK/gunicorn.log" "$WORK/venv/bin/service-deploy" probe /health/ready
"$WORK/venv/bin/python" - <<'PY'
import json, os, urllib.parse, urllib.request
base = f"http://127.0.0.1:{os.environ['PORT']}"
def get(path):
    with urllib.request.urlopen(base + path, timeout=5) as response:
        return response.status, response.headers.get("content-type", ""), response.read()
assert get("/health/ready")[0] == 200, "not ready"
status, kind, body = get("/docs/assets/swagger-ui-bundle.js")
assert status == 200 and "javascript" in kind and len(body) > 100_000, (status, kind)
status, kind, body = get("/redoc")
assert status == 200 and b"/docs/assets/redoc.standalone.js" in body
version = json.loads(get("/api/v1/version")[2])
assert version["git_revision"] != "unknown", version
# Log in as the first superuser: argon2, JWT and the users tables work in this install.
form = urllib.parse.urlencode(
    {"username": "admin@example.com", "password": "changethis-admin-password"}).encode()
with urllib.request.urlopen(base + "/api/v1/auth/token", data=form, timeout=10) as response:
    token = json.loads(response.read())["access_token"]
me = urllib.request.Request(
    base + "/api/v1/users/me/permissions", headers={"Authorization": f"Bearer {token}"})
with urllib.request.urlopen(me, timeout=5) as response:
    assert "*" in json.loads(response.read()), "the first superuser holds the admin role"
print("installed service answers: /health/ready 200, docs assets, superuser login, version",
      version["version"])
PY
kill -TERM \$pid
for _ in \$(seq 1 120); do kill -0 \$pid 2>/dev/null || break; sleep 0.25; done
if kill -0 \$pid 2>/dev/null; then echo "gunicorn did not stop on SIGTERM"; kill -KILL \$pid; exit 1; fi
wait \$pid || true
echo "gunicorn stopped on SIGTERM"
SCRIPT
start=$SECONDS
"${OFFLINE[@]}" bash "$WORK/offline.sh"
echo "offline install, migrate, serve and stop: $((SECONDS - start))s"

section "systemd units: systemd-analyze verify, on the wheelhouse install"
# The units name /opt/fastapi-service-template: in a mount namespace of its own, the venv just
# installed offline is mounted there (on a tmpfs over /opt), so nothing on this machine changes.
bash .ci/apt-install.sh systemd-analyze=systemd kill=procps
if unshare --mount true 2>/dev/null; then
  unshare --mount --propagation private bash -euo pipefail -c '
    mount -t tmpfs -o size=1m tmpfs /opt
    mkdir /opt/fastapi-service-template
    mount --bind "$1" /opt/fastapi-service-template
    systemd-analyze verify deploy/systemd/*.service' _ "$WORK/venv"
  echo "systemd-analyze verify: $(ls deploy/systemd/*.service | wc -l) units, no findings"
else
  printf '\n!!!!!!!! SKIPPED: no mount namespace here (needs root): systemd units NOT verified !!!!!!!!\n\n'
fi

section "image contents without a Docker engine: the runtime stage's files, run as the image runs"
# The Dockerfile's runtime stage holds /opt/venv (the lock's runtime dependencies), app/ with
# its build info, migrations/, alembic.ini and gunicorn.conf.py (tests/deploy checks that
# list). Lay out the same tree, then run the compose/Job release step, the CMD and the
# HEALTHCHECK command on it with the image's environment, and nothing else.
start=$SECONDS
IMAGE_ROOT="$WORK/image"
mkdir -p "$IMAGE_ROOT/app"
UV_PROJECT_ENVIRONMENT="$IMAGE_ROOT/venv" .tools/bin/uv sync --quiet --frozen --no-dev \
  --no-install-project
cp -r app migrations alembic.ini gunicorn.conf.py "$IMAGE_ROOT/app/"
find "$IMAGE_ROOT/app" -name __pycache__ -prune -exec rm -rf {} +
IMAGE_ENV=(env -i PATH="$IMAGE_ROOT/venv/bin:/usr/bin:/bin" PYTHONUNBUFFERED=1
  PYTHONDONTWRITEBYTECODE=1 HOME=/tmp HOST=127.0.0.1 PORT="$INSTALL_PORT" LEVEL=WARNING)
cat >"$WORK/image.sh" <<SCRIPT
set -euo pipefail
$(declare -f wait_ready)
ip link set lo up 2>/dev/null || true
cd "$IMAGE_ROOT/app"
sh -c "alembic upgrade head && python -m app.cli create-superuser" >/dev/null
gunicorn -c gunicorn.conf.py >"$WORK/image-gunicorn.log" 2>&1 &
pid=\$!
wait_ready \$pid "$WORK/image-gunicorn.log" python -m app.deploy probe /health/live
python -m app.deploy probe /health/ready || { cat "$WORK/image-gunicorn.log"; exit 1; }
kill -TERM \$pid
wait \$pid || true
echo "image layout: migrated, HEALTHCHECK command passes, /health/ready 200"
SCRIPT
"${OFFLINE[@]}" "${IMAGE_ENV[@]}" bash "$WORK/image.sh"
echo "image layout check: $((SECONDS - start))s"

section "docs in headless chromium (outside requests blocked)"
if [[ ! -x /usr/bin/chromium ]]; then
  echo "installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
BROWSER_TESTS=1 "$BIN/pytest" -q -m slow -p no:cacheprovider tests/browser
ls -l artifacts/*.png
