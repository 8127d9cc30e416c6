#!/usr/bin/env bash
# Install the npm packages the tests use, from their lock files, only when missing or stale.
#   scripts/npm-deps.sh
# tests/graphql_http_audit: graphql-http's GraphQL over HTTP audit, run against a live Murmur.
set -euo pipefail
LOG_PREFIX=npm-deps
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for dir in "$root/tests/graphql_http_audit"; do
    stamp="$dir/node_modules/.installed-from"  # the lock file's hash at the last npm ci
    wanted="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        continue
    fi
    log "npm ci in ${dir#"$root"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$wanted" >"$stamp"
done
