import { createHash } from "node:crypto";
import type { CustomResourceInfo } from "../api/crd.js";
import type { ResourceCatalog, ResourceDef } from "../api/resources.js";
import { builtinDefinitionName, builtinDefinitions, type Schema } from "../api/builtin-schema.js";
import { SERVER_VERSION } from "./discovery.js";

// The OpenAPI documents kube-apiserver publishes: /openapi/v2 (one document: kubectl's and
// helm's client-side validation) and /openapi/v3 (one per group-version: `kubectl explain`,
// field-validation discovery). Built-in kinds are described by the upstream definitions
// (upstream/openapi-definitions.json, attribution inside), custom resources by their CRD's
// structural schema, as the real server does.

type Info = (d: ResourceDef) => CustomResourceInfo | undefined;

export { builtinDefinitionName };

const customName = (d: ResourceDef) => `${d.group.split(".").reverse().join(".")}.${d.version}.${d.kind}`;
function customSchema(d: ResourceDef, info: Info): Schema {
  const schema = info(d)?.schema as Schema | undefined;
  return {
    ...(schema ?? { type: "object" }),
    "x-kubernetes-group-version-kind": [{ group: d.group, version: d.version, kind: d.kind }],
  };
}

/** The names a definition reaches through $ref, itself included. */
function closure(roots: string[], definitions: Record<string, Schema>): Set<string> {
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (seen.has(name) || !definitions[name]) continue;
    seen.add(name);
    JSON.stringify(definitions[name], (k, v: unknown) => {
      if (k === "$ref" && typeof v === "string") stack.push(v.replace(/^#\/definitions\//, ""));
      return v;
    });
  }
  return seen;
}

/** /openapi/v2: every stable built-in definition and one per served custom resource version. */
export function openApiV2(
  catalog: ResourceCatalog,
  info: Info,
): { swagger: string; info: { title: string; version: string }; paths: object; definitions: Record<string, Schema> } {
  const definitions: Record<string, Schema> = { ...builtinDefinitions().definitions };
  for (const d of catalog.all()) if (d.custom) definitions[customName(d)] = customSchema(d, info);
  return { swagger: "2.0", info: { title: "Kubernetes", version: SERVER_VERSION.gitVersion }, paths: {}, definitions };
}

const gvPath = (group: string, version: string) => (group ? `apis/${group}/${version}` : `api/${version}`);
const toV3Refs = (s: Schema): Schema =>
  JSON.parse(JSON.stringify(s).replaceAll('"#/definitions/', '"#/components/schemas/')) as Schema;

// Documents are memoised per catalog and inputs (the resources of a group-version and the
// identity of their CRD schemas): kubectl fetches them on every command.
const schemaIds = new WeakMap<object, number>();
let nextSchemaId = 1;
const memo = new WeakMap<ResourceCatalog, Map<string, { key: string; value: unknown }>>();

function memoised<T>(catalog: ResourceCatalog, slot: string, defs: ResourceDef[], info: Info, build: () => T): T {
  const key = defs
    .map((d) => {
      const schema = d.custom ? info(d)?.schema : undefined;
      if (schema && !schemaIds.has(schema)) schemaIds.set(schema, nextSchemaId++);
      return `${d.group}/${d.version}/${d.resource}/${d.kind}#${schema ? schemaIds.get(schema) : 0}`;
    })
    .join(",");
  let slots = memo.get(catalog);
  if (!slots) memo.set(catalog, (slots = new Map()));
  const hit = slots.get(slot);
  if (hit && hit.key === key) return hit.value as T;
  const value = build();
  slots.set(slot, { key, value });
  return value;
}

/** /openapi/v2 as client-go asks for it, protobuf; memoised like the v3 documents. */
export function openApiV2Protobuf(
  catalog: ResourceCatalog,
  info: Info,
  encode: (doc: ReturnType<typeof openApiV2>) => Buffer,
): Buffer {
  return memoised(
    catalog,
    "v2.pb",
    catalog.all().filter((d) => d.custom),
    info,
    () => encode(openApiV2(catalog, info)),
  );
}

/** /openapi/v3/<gv>: paths for each resource and the schemas of its kinds with everything they reference. */
export function openApiGvDocument(
  catalog: ResourceCatalog,
  group: string,
  version: string,
  info: Info,
): object | undefined {
  const all = catalog.all().filter((d) => d.group === group && d.version === version);
  if (all.length === 0) return undefined;
  return memoised(catalog, `v3/${group}/${version}`, all, info, () => buildGvDocument(all, info));
}

function buildGvDocument(all: ResourceDef[], info: Info): object {
  const defs = all.filter((d) => !d.virtual);
  const { definitions } = builtinDefinitions();
  const paths: Record<string, object> = {};
  const schemas: Record<string, Schema> = {};
  const builtinRoots: string[] = [];
  const fieldValidation = {
    name: "fieldValidation",
    in: "query",
    description:
      "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.",
    schema: { type: "string", uniqueItems: true },
  };
  for (const d of defs) {
    const gvk = { group: d.group, version: d.version, kind: d.kind };
    const upstream = d.custom ? undefined : builtinDefinitionName(d);
    const name = upstream ?? customName(d);
    if (upstream) builtinRoots.push(upstream);
    else
      schemas[name] = d.custom
        ? customSchema(d, info)
        : {
            type: "object",
            description: `${d.kind}: no upstream definition`,
            "x-kubernetes-group-version-kind": [gvk],
          };
    const base = `/${gvPath(d.group, d.version)}${d.namespaced ? "/namespaces/{namespace}" : ""}/${d.resource}`;
    const ok = {
      "200": {
        description: "OK",
        content: { "application/json": { schema: { $ref: `#/components/schemas/${name}` } } },
      },
    };
    paths[base] = { post: { "x-kubernetes-group-version-kind": gvk, parameters: [fieldValidation], responses: ok } };
    // No requestBody on PATCH: kubectl then computes strategic merge patches from its
    // built-in types, as it does against a real server's documents it cannot use for that.
    paths[`${base}/{name}`] = {
      get: { "x-kubernetes-group-version-kind": gvk, responses: ok },
      put: { "x-kubernetes-group-version-kind": gvk, parameters: [fieldValidation], responses: ok },
      patch: { "x-kubernetes-group-version-kind": gvk, parameters: [fieldValidation], responses: ok },
    };
  }
  for (const name of closure(builtinRoots, definitions)) schemas[name] = toV3Refs(definitions[name]!);
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: SERVER_VERSION.gitVersion },
    paths,
    components: { schemas },
  };
}

export function openApiRoot(catalog: ResourceCatalog, info: Info): object {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const { group, version } of catalog.groupVersions()) {
    const all = catalog.all().filter((d) => d.group === group && d.version === version);
    const hash = memoised(catalog, `v3hash/${group}/${version}`, all, info, () =>
      createHash("sha512")
        .update(JSON.stringify(openApiGvDocument(catalog, group, version, info)))
        .digest("hex")
        .slice(0, 64)
        .toUpperCase(),
    );
    paths[gvPath(group, version)] = { serverRelativeURL: `/openapi/v3/${gvPath(group, version)}?hash=${hash}` };
  }
  return { paths };
}
