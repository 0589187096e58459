#!/usr/bin/env bash
# HTTPS in front, with the real server: Debian's nginx (installed if missing, its packaged
# service never left running) with deploy/nginx/'s site file and a certificate made for the
# test, in front of a real gunicorn: tests/deploy/test_nginx.py. Needs `make install` first.
set -euo pipefail
cd "$(dirname "$0")/.."

was_installed=""
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] && was_installed=1
PATH="$PATH:/usr/sbin" bash .ci/apt-install.sh nginx=nginx
# A package install may start the Debian service where no policy-rc.d stopped it: stop that
# one by the PID it wrote, never nginx processes by name.
if [[ -z "$was_installed" && -s /run/nginx.pid ]] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
  echo "stopping the nginx service the package started (pid $(cat /run/nginx.pid))"
  kill -QUIT "$(cat /run/nginx.pid)"
fi
PATH="$PATH:/usr/sbin" nginx -v
start=$SECONDS
PATH="$PATH:/usr/sbin" NGINX_TESTS=1 .venv/bin/pytest -q -m slow -p no:cacheprovider \
  tests/deploy/test_nginx.py
echo "nginx HTTPS check: $((SECONDS - start))s"
