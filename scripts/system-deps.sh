#!/usr/bin/env bash
# Install the Debian packages a make target needs, only those missing.
#   scripts/system-deps.sh GROUP...     e.g. scripts/system-deps.sh test
# Add a package to a group below when a target starts needing it (e.g. redis-server
# for the Redis contract tests).
set -euo pipefail
LOG_PREFIX=system-deps
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

packages_for() {
    case "$1" in
        # redis-server: the Redis tests start their own (tests/servers), never the service;
        # iproute2 (ip): brings up loopback in the private network namespace FalkorDB runs in.
        # chromium + chromium-driver: the GraphiQL browser test (Selenium, loopback only).
        # nodejs (with its npm): the GraphQL over HTTP audit (scripts/npm-deps.sh).
        test) echo "redis-server iproute2 chromium chromium-driver nodejs" ;;
        bench) echo "wrk redis-server iproute2" ;;
        lint) echo "" ;;
        ci) echo "make" ;;
        *) log "unknown group: $1"; return 1 ;;
    esac
}

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for group in "$@"; do
    for pkg in $(packages_for "$group"); do
        is_installed "$pkg" || missing+=("$pkg")
    done
done

if [ "${#missing[@]}" -eq 0 ]; then
    log "nothing to install for: ${*:-no group}"
    exit 0
fi
log "apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages such as redis-server start their system service on install: the tests start
# their own servers, so while installing, a policy-rc.d refuses service starts (101),
# unless the machine already has its own policy.
policy=/usr/sbin/policy-rc.d
if ! as_root test -e "$policy"; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    trap 'as_root rm -f "$policy"' EXIT
fi
# update first: on a fresh machine the package lists are empty or stale
as_root apt-get update -qq >&2
as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
