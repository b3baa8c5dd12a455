#!/usr/bin/env bash
# `npm test`: everything CI runs. Installs what is missing first (scripts/setup.sh), then
# checks generated files, types, and runs the unit, integration and end-to-end tests.
# Usage: scripts/test.sh [unit]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.tools/bin:$PATH"
shopt -s globstar nullglob

echo "== generated files"
npx tsx packages/api/scripts/gen-crd.ts --check
npx tsx scripts/gen-deploy.ts --check

echo "== typecheck"
npx tsc -b --noEmit

echo "== format and lint (Biome: formatting, floating promises; knip: unused exports)"
npx biome ci --error-on-warnings --colors=off .
npx knip --include exports,types

# Explicit globs, expanded here, so node's runner gets files and prints its summary.
unit=(packages/*/src/**/*.test.ts services/*/src/**/*.test.ts services/*/scripts/**/*.test.ts)
integration=(test/integration/**/*.test.ts test/e2e/**/*.test.ts)

echo "== unit tests (${#unit[@]} files)"
node --import tsx --test --test-concurrency=2 "${unit[@]}"

if [ "${1:-}" = unit ]; then exit 0; fi

if [ ${#integration[@]} -gt 0 ]; then
  echo "== integration and end-to-end tests (${#integration[@]} files)"
  node --import tsx --test --test-concurrency=1 "${integration[@]}"
fi

for pytests in services/*/tests; do
  echo "== python tests in $pytests"
  /usr/bin/python3 -m pytest -q "$pytests"
done
