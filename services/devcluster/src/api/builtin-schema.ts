import { readFileSync } from "node:fs";

// The upstream OpenAPI definitions of the built-in kinds (upstream/openapi-definitions.json,
// attribution inside) and what kube-apiserver's typed decoding does with fields they do not
// name: under fieldValidation=Strict a strict decoding error (`unknown field "spec.x"`),
// under Warn a warning, and in every case the field is dropped before storage.

export type Schema = Record<string, unknown>;
interface Gvk {
  group: string;
  version: string;
  kind: string;
}

const DATA = new URL("../../upstream/openapi-definitions.json", import.meta.url);
let loaded: { definitions: Record<string, Schema>; byGvk: Map<string, string> } | undefined;

export const gvkKey = (g: Gvk) => `${g.group}/${g.version}/${g.kind}`;

/** The upstream definitions, and which one describes each group/version/kind. Read on first use. */
export function builtinDefinitions(): { definitions: Record<string, Schema>; byGvk: Map<string, string> } {
  if (loaded) return loaded;
  const { definitions } = JSON.parse(readFileSync(DATA, "utf8")) as { definitions: Record<string, Schema> };
  const byGvk = new Map<string, string>();
  for (const [name, s] of Object.entries(definitions)) {
    const gvks = (s["x-kubernetes-group-version-kind"] ?? []) as Gvk[];
    // A definition listing many GVKs (DeleteOptions, WatchEvent) describes none of them alone.
    if (gvks.length === 1) byGvk.set(gvkKey(gvks[0]!), name);
  }
  loaded = { definitions, byGvk };
  return loaded;
}

/** The upstream definition name of a built-in kind (`io.k8s.api.batch.v1.Job`), if upstream has one. */
export function builtinDefinitionName(g: Gvk): string | undefined {
  return builtinDefinitions().byGvk.get(gvkKey(g));
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

const resolved = new WeakMap<Schema, Schema>();

/** Follows $ref and single-entry allOf to the schema that describes a value; memoised per node. */
function resolve(schema: Schema, definitions: Record<string, Schema>): Schema {
  const hit = resolved.get(schema);
  if (hit) return hit;
  let s = schema;
  for (let i = 0; i < 10; i++) {
    const ref = s["$ref"];
    const allOf = s["allOf"];
    if (typeof ref === "string") s = definitions[ref.replace(/^#\/definitions\//, "")] ?? {};
    else if (Array.isArray(allOf) && allOf.length === 1 && isObject(allOf[0])) s = allOf[0] as Schema;
    else break;
  }
  resolved.set(schema, s);
  return s;
}

/**
 * Removes the fields of `value` that `definition` does not name and returns their paths, as
 * the strict decoder spells them (`spec.template.spec.containers[0].x`). Objects that keep
 * anything (RawExtension, JSON, FieldsV1, preserve-unknown-fields) are left alone.
 */
export function pruneUnknownFields(definition: string, value: unknown): string[] {
  const { definitions } = builtinDefinitions();
  const root = definitions[definition];
  if (!root) return [];
  const found: string[] = [];
  const walk = (schema: Schema, v: unknown, path: string) => {
    const s = resolve(schema, definitions);
    if (s["x-kubernetes-preserve-unknown-fields"] === true) return;
    if (Array.isArray(v)) {
      if (isObject(s["items"])) v.forEach((item, i) => walk(s["items"] as Schema, item, `${path}[${i}]`));
      return;
    }
    if (!isObject(v)) return;
    const props = isObject(s["properties"]) ? (s["properties"] as Record<string, Schema>) : undefined;
    const extra = s["additionalProperties"];
    if (!props) {
      if (isObject(extra))
        for (const [k, child] of Object.entries(v)) walk(extra as Schema, child, path ? `${path}.${k}` : k);
      return;
    }
    for (const [k, child] of Object.entries(v)) {
      const at = path ? `${path}.${k}` : k;
      const sub = props[k] ?? (isObject(extra) ? (extra as Schema) : undefined);
      if (sub) walk(sub, child, at);
      else {
        found.push(at);
        delete v[k];
      }
    }
  };
  walk(root, value, "");
  return found;
}
