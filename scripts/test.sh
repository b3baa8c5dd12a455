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
integration=(test/integration/**/*.test.ts)
e2e=(test/e2e/**/*.test.ts)

echo "== unit tests (${#unit[@]} files)"
node --import tsx --test --test-concurrency=2 "${unit[@]}"

if [ "${1:-}" = unit ]; then exit 0; fi

# Two lanes side by side: the integration files one after another, and the end-to-end
# files (each a helm-installed stack) one after another. The tests mostly wait on
# simulated training (about 0.8 of a core between them), so the lanes halve the wall clock
# without ever running two helm stacks at once. Each lane's devclusters take their pod and
# Service addresses from their own block (services/devcluster/src/address-block.ts), so the
# lanes never want the same address. Each lane's report is printed whole.
echo "== integration (${#integration[@]} files) and end-to-end (${#e2e[@]} files) tests, in two lanes"
lanes=$(mktemp -d)
DEVCLUSTER_ADDRESS_BLOCK=0 node --import tsx --test --test-concurrency=1 "${integration[@]}" >"$lanes/integration.log" 2>&1 &
integration_pid=$!
DEVCLUSTER_ADDRESS_BLOCK=1 node --import tsx --test --test-concurrency=1 "${e2e[@]}" >"$lanes/e2e.log" 2>&1 &
e2e_pid=$!
trap 'kill "$integration_pid" "$e2e_pid" 2>/dev/null || true' EXIT
integration_rc=0
e2e_rc=0
wait "$integration_pid" || integration_rc=$?
wait "$e2e_pid" || e2e_rc=$?
echo "== integration tests (exit $integration_rc)"
cat "$lanes/integration.log"
echo "== end-to-end tests (exit $e2e_rc)"
cat "$lanes/e2e.log"
rm -rf "$lanes"
if [ "$integration_rc" -ne 0 ] || [ "$e2e_rc" -ne 0 ]; then exit 1; fi

for pytests in services/*/tests; do
  echo "== python tests in $pytests"
  /usr/bin/python3 -m pytest -q "$pytests"
done
