#!/usr/bin/env sh
# Bundles one TypeScript entry point and every dependency into a single ESM file with the
# esbuild that tsx already ships (no extra dependency). The banner gives CommonJS
# dependencies the `require` an ESM bundle lacks. Used by the service Dockerfiles, and by
# test/integration/chart-images.test.ts on packages/api.
# Usage: images/bundle.sh <entry.ts> <out.mjs>
set -eu
entry=$1
out=$2
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/node_modules/.bin/esbuild" "$entry" \
  --bundle --platform=node --target=node20 --format=esm \
  --sourcemap=inline --legal-comments=none --log-level=warning \
  --banner:js="import { createRequire as __nnunetCreateRequire } from 'node:module'; const require = __nnunetCreateRequire(import.meta.url);" \
  --outfile="$out"
