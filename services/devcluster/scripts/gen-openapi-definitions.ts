import { readFileSync, writeFileSync } from "node:fs";

// Transcribes the OpenAPI v2 definitions of the stable built-in kinds from the upstream
// Kubernetes spec (api/openapi-spec/swagger.json of a release) into
// upstream/openapi-definitions.json, which the devcluster serves at /openapi/v2 and
// /openapi/v3 and validates built-in objects against. Alpha and beta versions are left
// out (the devcluster serves none); definitions are copied unchanged.
//
//   tsx scripts/gen-openapi-definitions.ts <swagger.json> <repository> <commit> <path> <release>

const [file, repository, commit, path, release] = process.argv.slice(2);
if (!file || !repository || !commit || !path || !release)
  throw new Error("usage: gen-openapi-definitions.ts <swagger.json> <repository> <commit> <path> <release>");
const spec = JSON.parse(readFileSync(file, "utf8")) as { definitions: Record<string, unknown> };
const definitions = Object.fromEntries(
  Object.entries(spec.definitions)
    .filter(([name]) => !/\.v\d+(alpha|beta)\d+\./.test(name))
    .sort(([a], [b]) => a.localeCompare(b)),
);
const out = {
  source: {
    repository,
    commit,
    path,
    kubernetes: release,
    license: "Apache-2.0, The Kubernetes Authors",
    note: "The upstream OpenAPI v2 definitions of Kubernetes, stable versions only, unchanged.",
  },
  definitions,
};
writeFileSync(new URL("../upstream/openapi-definitions.json", import.meta.url), `${JSON.stringify(out)}\n`);
console.log(`${Object.keys(definitions).length} definitions`);
