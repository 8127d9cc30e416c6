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
        test) echo "" ;;
        bench) echo "wrk" ;;
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
as_root apt-get update -qq >&2
as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
