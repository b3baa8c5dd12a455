#!/usr/bin/env bash
# `npm run bench`: runs every part's benchmark (the root scripts named bench:<part>), each
# printing a table of figures against its targets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh npm
parts=$(node -e 'const s=require("./package.json").scripts; console.log(Object.keys(s).filter(k=>k.startsWith("bench:")).join(" "))')
if [ -z "$parts" ]; then echo "no benchmarks yet"; exit 0; fi
for part in $parts; do
  echo "== $part"
  npm run --silent "$part"
done
