#!/usr/bin/env bash
# `npm test -w <workspace>`: the unit tests of the workspace npm runs this in (its folder).
# Node 20's test runner does not expand globs ('src/**/*.test.ts' is "Could not find"; 22
# does), so the files are found here and handed over by name, on either version.
# Usage (from a workspace's package.json): bash ../../scripts/test-workspace.sh [--list]
set -euo pipefail
mapfile -t files < <(find src scripts -name '*.test.ts' -not -path '*/node_modules/*' 2>/dev/null | LC_ALL=C sort)
if [ ${#files[@]} -eq 0 ]; then
  echo "no *.test.ts under src/ or scripts/ of $PWD" >&2
  exit 1
fi
if [ "${1:-}" = --list ]; then
  printf '%s\n' "${files[@]}"
  exit 0
fi
exec node --import tsx --test "${files[@]}"
