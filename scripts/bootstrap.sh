#!/usr/bin/env bash
# Idempotent dev setup: a uv binary and the locked venv (.venv) with every dependency
# group. When everything is in place this is a ~0.1 s no-op (uv sync only checks).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOG_PREFIX=bootstrap
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ensure_uv
version="$("$UV" --version | awk '{print $2}')"
if [ "$version" != "$UV_WANTED_VERSION" ]; then
    log "warning: using uv $version at $UV (the project pins $UV_WANTED_VERSION)"
fi
log "uv $version ($UV); UV_PYTHON_DOWNLOADS=$UV_PYTHON_DOWNLOADS UV_SYSTEM_CERTS=$UV_SYSTEM_CERTS"
log "uv sync --frozen --all-groups --all-extras"
"$UV" sync --frozen --all-groups --all-extras
