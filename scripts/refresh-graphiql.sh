#!/usr/bin/env bash
# Refresh GraphiQL's browser assets in api/graphiql/assets/ from the npm registry.
#   scripts/refresh-graphiql.sh
# Murmur serves GraphiQL itself (no CDN), so the page works offline and under a strict
# Content-Security-Policy. The versions are pinned here; each package's tarball is checked
# against the registry's integrity hash by npm, and assets.json records what was copied
# (with SHA-256s that tests/api/test_graphiql.py checks). graphiql 3.x ships UMD bundles
# that need no build step; the explorer plugin must match graphiql's @graphiql/react.
set -euo pipefail
LOG_PREFIX=refresh-graphiql
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(react@18.3.1 react-dom@18.3.1 graphiql@3.8.3 @graphiql/plugin-explorer@3.2.5)
# package-relative source path -> served name
FILES=(
    "react/umd/react.production.min.js react.production.min.js"
    "react-dom/umd/react-dom.production.min.js react-dom.production.min.js"
    "graphiql/graphiql.min.js graphiql.min.js"
    "graphiql/graphiql.min.css graphiql.min.css"
    "@graphiql/plugin-explorer/dist/index.umd.js plugin-explorer.umd.js"
    "@graphiql/plugin-explorer/dist/style.css plugin-explorer.css"
)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$root/api/graphiql/assets"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

log "npm pack ${PACKAGES[*]}"
(cd "$work" && npm pack --silent "${PACKAGES[@]}" >/dev/null)
for tarball in "$work"/*.tgz; do
    name="$(tar -xzOf "$tarball" package/package.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')"
    mkdir -p "$work/unpacked/$name"
    tar -xzf "$tarball" -C "$work/unpacked/$name" --strip-components=1
done

mkdir -p "$target"
rm -f "$target"/*.js "$target"/*.css
for entry in "${FILES[@]}"; do
    read -r source served <<<"$entry"
    cp "$work/unpacked/$source" "$target/$served"
done
python3 - "$target" "${PACKAGES[@]}" <<'PY'
import hashlib, json, pathlib, sys
target, packages = pathlib.Path(sys.argv[1]), sys.argv[2:]
files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(target.glob("*.*s")) if p.suffix in (".js", ".css")}
(target / "assets.json").write_text(json.dumps({"packages": packages, "sha256": files}, indent=2) + "\n")
PY
log "wrote $(ls "$target" | wc -l) files to api/graphiql/assets"
