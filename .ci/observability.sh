#!/usr/bin/env bash
# Observability: the alert rules checked and unit-tested by promtool, then the service under a
# real Prometheus (Debian's package): request rates, latency quantiles, error ratios, the rules
# evaluated, every dashboard panel's query (tests/observability/test_prometheus.py). ~1 min.
# Installs the package when it is missing, with its own service kept from starting; skips,
# loudly, only when it cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

install_prometheus() {
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [[ ! -e $policy ]]; then  # no daemon of the package's own may start
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    made_policy=1
  fi
  local before
  before=$(pgrep -x prometheus || true)
  echo "installing Debian's prometheus package"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null || true
  if [[ -n $made_policy ]]; then rm -f "$policy"; fi
  # A policy that let the package start its daemon anyway: stop what the install started.
  for pid in $(pgrep -x prometheus || true); do
    if ! grep -qx "$pid" <<<"$before"; then
      echo "stopping the prometheus the package started (pid $pid)"
      kill "$pid" || true
    fi
  done
}

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  install_prometheus
fi
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  printf '\n!!!! SKIPPED: Debian'"'"'s prometheus package could not be installed here:\n'
  printf '!!!! the alert rule unit tests and the Prometheus and dashboard tests did NOT run.\n\n'
  exit 0
fi

promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts.test.yml
PROMETHEUS_TESTS=1 timeout 600 .venv/bin/pytest -q -p no:cacheprovider \
  tests/observability/test_prometheus.py tests/observability/test_rules.py
