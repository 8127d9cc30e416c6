# shellcheck shell=bash
# Shared helpers for scripts/*.sh: sourced, never executed.

UV_WANTED_VERSION="0.13.8"

# The project's interpreter comes from the machine (pyenv), never from uv's downloads.
export UV_PYTHON_DOWNLOADS=never
# PyPI is reached through a TLS-intercepting proxy here: uv's built-in (webpki) roots
# reject it with "invalid peer certificate: UnknownIssuer", the system store
# (/etc/ssl/certs) trusts it. Using the system store is also right on an open network.
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}"

log() { printf '%s: %s\n' "${LOG_PREFIX:-scripts}" "$*" >&2; }

# Run as root directly, otherwise through sudo when there is one.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root for: $*"
        return 1
    fi
}

# Print the path of a working uv binary, or nothing.
find_uv() {
    if [ -n "${UV:-}" ] && "$UV" --version >/dev/null 2>&1; then
        printf '%s\n' "$UV"
    elif uv --version >/dev/null 2>&1; then
        command -v uv
    else
        # pip may have put it where PATH does not look (e.g. ~/.local/bin)
        python3 -c 'import uv, sys; sys.stdout.write(uv.find_uv_bin())' 2>/dev/null || true
    fi
}

# Set UV to a working uv, installing the pinned version with pip when there is none.
ensure_uv() {
    UV="$(find_uv)"
    if [ -z "$UV" ]; then
        log "uv not found: python3 -m pip install uv==$UV_WANTED_VERSION"
        python3 -m pip install --quiet "uv==$UV_WANTED_VERSION" >&2
        UV="$(find_uv)"
        if [ -z "$UV" ]; then
            log "uv still not found after pip install"
            return 1
        fi
    fi
    export UV
}
