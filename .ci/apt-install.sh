#!/usr/bin/env bash
# apt-install.sh COMMAND=PACKAGE...: install Debian's PACKAGE where COMMAND is missing, without
# letting the package start its service (docker.io, nginx): a check starts its own process
# and stops it by PID. An existing policy-rc.d is left as it is; one made here is removed.
set -euo pipefail

missing=()
for pair in "$@"; do
  command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
done
((${#missing[@]})) || exit 0

echo "installing Debian packages: ${missing[*]}"
made_policy=""
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\n# services stay down while a check installs packages\nexit 101\n' \
    >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  made_policy=1
fi
remove_policy() { [[ -z "$made_policy" ]] || rm -f /usr/sbin/policy-rc.d; }
trap remove_policy EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
  >/dev/null
