#!/usr/bin/env bash
# The production image on a real Docker engine, offline, run as docs/deployment.md says:
# `make wheelhouse` (its SBOM checked by .ci/check-sbom.sh), then the documented blocks
# marked `<!-- .ci/image.sh: ... -->`: build from the wheelhouse with the classic builder,
# migrate in a one-off container against a fresh PostgreSQL database, start read-only, wait
# for Docker's HEALTHCHECK. Then it checks uid 10001, the read-only root, /health/ready,
# that /api/v1/version shows the commit built, a clean stop on SIGTERM within the grace
# period, and the same build under BuildKit.
# Uses a daemon that answers; else starts Debian's dockerd (installed if missing) on a
# socket and data root of its own (overlay2 where it mounts, else vfs) and stops it by PID
# at the end. No registry needed: the base image is pulled if it can be, else a stand-in is
# made from Debian packages. Removes the containers and images it made.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="$PWD/.venv/bin"
BASE="python:3.11-slim-bookworm"
CACHE="${IMAGE_BASE_CACHE:-/var/cache/fastapi-service-template}"
WORK="$(mktemp -d /var/tmp/fst-image.XXXXXX)"  # on disk: image layers are large
IMAGE="fastapi-service-template:ci-$$"
IMAGE_BUILDKIT="fastapi-service-template:ci-buildkit-$$"
NAME="fst-ci-$$"
DB="fst_image_$$"
ENV_FILE="$WORK/service.env"
GRACE=40  # --stop-timeout in the documented run; GRACEFUL_TIMEOUT (30 s) must fit in it
DOCKERD_PID=""
IMPORTED_BASE=""
DB_MADE=""

section() { printf '\n==== %s ====\n' "$*"; }
loud() { printf '\n!!!!!!!! %s !!!!!!!!\n\n' "$*"; }

cleanup() {
  set +e
  if [[ -n "${DOCKER_READY:-}" ]]; then
    docker rm -f "$NAME" >/dev/null 2>&1
    docker rmi -f "$IMAGE" "$IMAGE_BUILDKIT" >/dev/null 2>&1
    [[ -z "$IMPORTED_BASE" ]] || docker rmi -f "$BASE" >/dev/null 2>&1
  fi
  if [[ -n "$DOCKERD_PID" ]] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    kill -TERM "$DOCKERD_PID"
    for _ in $(seq 1 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && { echo "dockerd $DOCKERD_PID ignored TERM"; kill -KILL "$DOCKERD_PID"; }
    echo "stopped the dockerd this check started (pid $DOCKERD_PID)"
  fi
  # What dockerd left mounted under its exec root (the host network namespace).
  awk -v work="$WORK/" 'index($2, work) == 1 { print $2 }' /proc/mounts | sort -r \
    | while read -r mounted; do umount -l "$mounted"; done
  [[ -z "$DB_MADE" ]] || psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DB" postgres
  [[ -z "${WHEELHOUSE_MADE:-}" ]] || rm -rf wheelhouse
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# docs_block NAME: the fenced block after the line `<!-- .ci/image.sh: NAME -->`.
docs_block() {
  local block
  block="$(awk -v mark="<!-- .ci/image.sh: $1 -->" '
    $0 == mark { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```/ { exit }
    found == 2 { print }' docs/deployment.md)"
  [[ -n "$block" ]] || { echo "docs/deployment.md has no block marked .ci/image.sh: $1" >&2; return 1; }
  printf '%s\n' "$block"
}

# A daemon that answers, or our own. Debian's client (Engine 20.10) is the one operators have.
start_engine() {
  if [[ -x /usr/bin/docker ]]; then
    mkdir -p "$WORK/bin" && ln -s /usr/bin/docker "$WORK/bin/docker"
    export PATH="$WORK/bin:$PATH"
  fi
  if command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; then
    echo "using the Docker daemon that answers at ${DOCKER_HOST:-the default socket}"
    return 0
  fi
  if [[ $EUID -ne 0 ]]; then
    return 1
  fi
  bash .ci/apt-install.sh dockerd=docker.io
  [[ -x /usr/bin/docker && ! -e "$WORK/bin/docker" ]] && mkdir -p "$WORK/bin" \
    && ln -s /usr/bin/docker "$WORK/bin/docker" && export PATH="$WORK/bin:$PATH"
  local root="$WORK/engine" driver=vfs
  mkdir -p "$root"/{lower,upper,work,merged}
  # overlay2 where the kernel mounts overlay on this disk: vfs copies the whole image at
  # every build step (minutes each on a busy machine).
  if mount -t overlay overlay -o "lowerdir=$root/lower,upperdir=$root/upper,workdir=$root/work" \
    "$root/merged" 2>/dev/null; then
    umount "$root/merged" && driver=overlay2
  fi
  rm -rf "$root"/{lower,upper,work,merged}
  dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver="$driver" \
    --data-root "$root/data" --exec-root "$root/exec" --pidfile "$root/dockerd.pid" \
    --host "unix://$root/docker.sock" >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  export DOCKER_HOST="unix://$root/docker.sock"
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$DOCKERD_PID" 2>/dev/null || { cat "$WORK/dockerd.log"; return 1; }
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { cat "$WORK/dockerd.log"; return 1; }
  echo "started dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,) (pid $DOCKERD_PID)" \
    "with storage $driver, no bridge: containers use the host network"
}

# The base image: present, or pulled, or a stand-in made from Debian packages (said loudly).
ensure_base() {
  if docker image inspect "$BASE" >/dev/null 2>&1; then
    echo "base image $BASE is present"
    return
  fi
  if timeout 30 docker pull -q "$BASE" >/dev/null 2>&1; then
    echo "pulled $BASE"
    return
  fi
  loud "no registry answers: building a STAND-IN for $BASE from Debian bookworm packages (debootstrap --variant=minbase, python3, python3-venv): NOT the official image"
  local tarball="$CACHE/bookworm-minbase-python3.tar"
  if [[ -s "$tarball" ]] && [[ -n "$(find "$tarball" -mtime -30)" ]]; then
    echo "root filesystem from the cache: $tarball (rebuilt after 30 days; delete it to rebuild now)"
  else
    bash .ci/apt-install.sh debootstrap=debootstrap
    local rootfs="$WORK/rootfs" start=$SECONDS
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm \
      "$rootfs" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; exit 1; }
    # Where the official image has its python.
    ln -s /usr/bin/python3 "$rootfs/usr/local/bin/python3"
    ln -s /usr/bin/python3 "$rootfs/usr/local/bin/python"
    # Smaller is faster: the vfs driver copies the whole image at every build step.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
      "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/{doc,man,info,locale}/*
    if mkdir -p "$CACHE" 2>/dev/null && [[ -w "$CACHE" ]]; then
      tar -C "$rootfs" -c . >"$tarball.$$" && mv "$tarball.$$" "$tarball"
    else
      tarball="$WORK/rootfs.tar"
      tar -C "$rootfs" -c . >"$tarball"
    fi
    rm -rf "$rootfs"
    echo "debootstrap: $((SECONDS - start))s (cached in $tarball)"
  fi
  docker import --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$tarball" "$BASE" >/dev/null
  IMPORTED_BASE=1
  echo "imported the stand-in as $BASE"
}

section "wheelhouse (make wheelhouse) and its SBOM"
start=$SECONDS
[[ ! -e wheelhouse ]] || { echo "./wheelhouse exists: this check builds its own; move it away"; exit 1; }
WHEELHOUSE_MADE=1
make --no-print-directory wheelhouse >"$WORK/wheelhouse.log" 2>&1 || { cat "$WORK/wheelhouse.log"; exit 1; }
echo "$(ls wheelhouse/*.whl | wc -l) wheels: $((SECONDS - start))s"
bash .ci/check-sbom.sh wheelhouse

section "Docker engine"
if ! start_engine; then
  loud "SKIPPED: no Docker engine can run here (no daemon answers, and not root to start one): the image was NOT built or run"
  exit 0
fi
DOCKER_READY=1
docker version --format 'client {{.Client.Version}}, engine {{.Server.Version}}'

section "base image"
start=$SECONDS
ensure_base
echo "base image ready: $((SECONDS - start))s"

section "the documented run: offline build (classic builder), migrate, start, healthy"
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $DB" postgres
DB_MADE=1
PORT="$("$BIN/python" -c 'import tests.servers as s; print(s.reserve_port())')"
cat >"$ENV_FILE" <<ENV
STATUS=prod
DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/$DB
SECRET_KEY=$(openssl rand -hex 32)
FIRST_SUPERUSER_EMAIL=admin@example.com
FIRST_SUPERUSER_PASSWORD=$(openssl rand -hex 16)
PORT=$PORT
WORKERS=2
PROMETHEUS_MULTIPROC_DIR=/run/metrics
FORWARDED_ALLOW_IPS=127.0.0.1
ENV
REVISION="$(git rev-parse HEAD)"  # what `make image` passes as GIT_REVISION
start=$SECONDS
DOCKER_BUILDKIT=0 IMAGE="$IMAGE" NAME="$NAME" ENV_FILE="$ENV_FILE" \
  bash -euo pipefail -x <(docs_block run)
echo "documented run: $((SECONDS - start))s"

section "the running container"
health="$(docker inspect -f '{{.State.Health.Status}}' "$NAME")"
[[ "$health" == healthy ]] || { docker logs "$NAME" 2>&1 | tail -40; echo "health: $health"; exit 1; }
[[ "$(docker exec "$NAME" id -u)" == 10001 ]] || { echo "not uid 10001"; exit 1; }
[[ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$NAME")" == true ]]
if docker exec "$NAME" touch /app/written 2>/dev/null; then echo "root filesystem is writable"; exit 1; fi
echo "healthy (Docker's HEALTHCHECK), uid 10001, root filesystem read-only"
"$BIN/python" - "$PORT" "$REVISION" <<'PY'
import json, sys, urllib.request
port, revision = sys.argv[1], sys.argv[2]
def get(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status, json.loads(response.read())
status, ready = get("/health/ready")
assert status == 200, (status, ready)
status, version = get("/api/v1/version")
assert status == 200 and version["git_revision"] == revision, (version, revision)
print(f"/health/ready 200 {ready}; /api/v1/version shows the commit built: {revision[:12]}")
PY

section "SIGTERM: a clean stop within the grace period"
start=$SECONDS
NAME="$NAME" bash -euo pipefail -x <(docs_block stop)
took=$((SECONDS - start))
exit_code="$(docker inspect -f '{{.State.ExitCode}}' "$NAME")"
docker logs "$NAME" >"$WORK/container.log" 2>&1
if [[ "$exit_code" != 0 ]] || ((took >= GRACE)); then
  tail -30 "$WORK/container.log"; echo "exit code $exit_code after ${took}s (grace ${GRACE}s)"; exit 1
fi
grep -q "Shutting down: Master" "$WORK/container.log" || { tail -30 "$WORK/container.log"; exit 1; }
echo "stopped in ${took}s with exit code 0; gunicorn's master shut down after its workers"

section "the same offline build with BuildKit"
start=$SECONDS
DOCKER_BUILDKIT=1 make --no-print-directory image DEPENDENCIES=wheelhouse IMAGE="$IMAGE_BUILDKIT" \
  >"$WORK/buildkit.log" 2>&1 || { tail -40 "$WORK/buildkit.log"; exit 1; }
[[ "$(docker run --rm --network none --entrypoint id "$IMAGE_BUILDKIT" -u)" == 10001 ]]
echo "BuildKit build: $((SECONDS - start))s"
