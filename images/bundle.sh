#!/usr/bin/env sh
# Bundles one TypeScript entry point and every dependency into a single ESM file with the
# esbuild that tsx already ships (no extra dependency). The banner gives CommonJS
# dependencies the `require` an ESM bundle lacks. Used by the service Dockerfiles, and by
# test/integration/image-bundles.test.ts, which reads the optional metafile (esbuild's list
# of every input in the bundle) to check that no test or emulator code is inside. fastify's
# schema compilers (and with them ajv) are replaced by images/no-schema-compilers.cjs: our
# routes validate with zod and declare no schemas. V8 keeps a module's whole source in the
# heap: with an inline source map the operator's was 27 MB (two bytes a character, since a
# dependency's comment has an em dash); without the map and with whitespace and comments
# minified it is 3.4 MB, one byte a character. Names are kept, so stack traces still name functions.
# Usage: images/bundle.sh <entry.ts> <out.mjs> [<metafile.json>]
set -eu
entry=$1
out=$2
meta=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/node_modules/.bin/esbuild" "$entry" \
  --bundle --platform=node --target=node20 --format=esm \
  --minify-whitespace --legal-comments=none --log-level=warning \
  --banner:js="import { createRequire as __nnunetCreateRequire } from 'node:module'; const require = __nnunetCreateRequire(import.meta.url);" \
  --alias:@fastify/ajv-compiler="$root/images/no-schema-compilers.cjs" \
  --alias:@fastify/fast-json-stringify-compiler="$root/images/no-schema-compilers.cjs" \
  ${meta:+--metafile="$meta"} \
  --outfile="$out"
