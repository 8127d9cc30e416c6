#!/usr/bin/env bash
# uv with the project's environment settings (see lib.sh); used by the Makefile so
# that `make` works even where uv is not on PATH.
set -euo pipefail
LOG_PREFIX=uv.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_uv
exec "$UV" "$@"
