#!/bin/sh
# The image's build step: install-dependencies MODE [UV_VERSION] fills /opt/venv.
#   index           the runtime dependencies from the package index, through uv.lock
#   index-dev       plus every dependency group (deploy/docker/dev.Dockerfile), after index
#   wheelhouse      the runtime dependencies from /wheelhouse only (`make wheelhouse`), no index
set -eu
mode=$1
uv_version=${2:-}

case "$mode" in
  index)
    pip install --no-cache-dir "uv==${uv_version}"
    uv sync --frozen --no-dev --no-install-project
    ;;
  index-dev)
    uv sync --frozen --all-groups --no-install-project
    ;;
  wheelhouse)
    if [ ! -f /wheelhouse/requirements.txt ]; then
      echo "DEPENDENCIES=wheelhouse, but the build context has no wheelhouse/requirements.txt:" >&2
      echo "run 'make wheelhouse' in the checkout first" >&2
      exit 1
    fi
    built_for=$(cat /wheelhouse/python-version 2>/dev/null || echo unknown)
    here=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$built_for" != "$here" ]; then
      echo "the wheelhouse was built for Python $built_for, this base image has Python $here:" >&2
      echo "build with --build-arg PYTHON_VERSION=$built_for (make image PYTHON_VERSION=...)" >&2
      exit 1
    fi
    python3 -m venv /opt/venv
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-index \
      --find-links /wheelhouse --no-deps --require-hashes -r /wheelhouse/requirements.txt
    ;;
  *)
    echo "DEPENDENCIES must be 'index' or 'wheelhouse', not '$mode'" >&2
    exit 2
    ;;
esac
