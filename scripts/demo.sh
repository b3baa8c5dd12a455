#!/usr/bin/env bash
# `npm run demo`: installs what is missing (npm dependencies, nats-server and the other
# Debian packages, helm and kubectl), then runs the demo (scripts/demo/main.ts).
# Usage: npm run demo [-- --keep] [--time-scale N]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh npm system tools
export PATH="$PWD/.tools/bin:$PWD/node_modules/.bin:$PATH"
# exec: the demo gets Ctrl-C and SIGTERM itself and stops what it started.
exec node --import tsx scripts/demo/main.ts "$@"
