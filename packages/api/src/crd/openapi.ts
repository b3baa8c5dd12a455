import { z } from "zod";

// zod -> a Kubernetes structural openAPIV3Schema. zod's JSON Schema is close; these are the
// differences a real API server cares about:
// - no $schema/$ref (zod inlines reused schemas with `reused: "inline"`),
// - `additionalProperties: false` is not allowed next to `properties` (unknown fields are
//   pruned instead), so it is dropped,
// - `const` does not exist in OpenAPI v3.0: it becomes a one-value enum,
// - int-or-string nodes keep exactly `anyOf: [{type: integer}, {type: string}]`, with their
//   value validations (pattern, enum) on the node itself, as controller-gen emits them,
// - zod's safe-integer bounds are noise and are dropped.

export type JSONSchemaProps = {
  type?: string;
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  items?: JSONSchemaProps;
  additionalProperties?: JSONSchemaProps | boolean;
  anyOf?: JSONSchemaProps[];
  allOf?: JSONSchemaProps[];
  oneOf?: JSONSchemaProps[];
  not?: JSONSchemaProps;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  nullable?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-validations"?: ValidationRule[];
  [key: string]: unknown;
};

export interface ValidationRule {
  rule: string;
  message?: string;
  fieldPath?: string;
  reason?: string;
}

const SAFE_MAX = Number.MAX_SAFE_INTEGER;

export function toStructural(schema: z.ZodType): JSONSchemaProps {
  const json = z.toJSONSchema(schema, { io: "input", reused: "inline", unrepresentable: "throw" }) as Record<
    string,
    unknown
  >;
  delete json.$schema;
  return clean(json);
}

function clean(node: Record<string, unknown>): JSONSchemaProps {
  const out: JSONSchemaProps = {};
  for (const [key, value] of Object.entries(node)) {
    switch (key) {
      case "$schema":
      case "$id":
      case "id":
        break;
      case "const":
        out.enum = [value];
        break;
      case "additionalProperties":
        if (value === false) break;
        if (value && typeof value === "object" && Object.keys(value).length === 0) {
          out["x-kubernetes-preserve-unknown-fields"] = true;
          break;
        }
        out.additionalProperties =
          typeof value === "object" ? clean(value as Record<string, unknown>) : (value as boolean);
        break;
      case "minimum":
        if (value !== -SAFE_MAX) out.minimum = value as number;
        break;
      case "maximum":
        if (value !== SAFE_MAX) out.maximum = value as number;
        break;
      case "exclusiveMinimum":
      case "exclusiveMaximum":
        throw new Error(`${key} has no structural equivalent; use min/max instead`);
      case "properties":
        out.properties = Object.fromEntries(
          Object.entries(value as Record<string, Record<string, unknown>>).map(([k, v]) => [k, clean(v)]),
        );
        break;
      case "items":
        out.items = clean(value as Record<string, unknown>);
        break;
      case "anyOf":
      case "allOf":
      case "oneOf":
        out[key] = (value as Record<string, unknown>[]).map(clean);
        break;
      default:
        out[key] = value;
    }
  }
  if (out["x-kubernetes-int-or-string"]) {
    out.anyOf = [{ type: "integer" }, { type: "string" }];
    delete out.type;
  }
  // The API server checks format date-time itself; zod's equivalent regex is noise.
  if (out.format === "date-time") delete out.pattern;
  // A literal number (a schema version) is an integer.
  if (out.type === "number" && out.enum?.every((v) => Number.isInteger(v))) out.type = "integer";
  // zod writes an empty `required` for objects whose fields all have defaults.
  if (Array.isArray(out.required) && out.required.length === 0) delete out.required;
  return out;
}

/** Walks every schema node with its property path (array items add `[]`). */
export function walkSchema(
  schema: JSONSchemaProps,
  visit: (node: JSONSchemaProps, path: readonly string[]) => void,
  path: readonly string[] = [],
): void {
  visit(schema, path);
  for (const [name, child] of Object.entries(schema.properties ?? {})) walkSchema(child, visit, [...path, name]);
  if (schema.items) walkSchema(schema.items, visit, [...path, "[]"]);
  if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
    walkSchema(schema.additionalProperties, visit, [...path, "{}"]);
  }
  for (const key of ["anyOf", "allOf", "oneOf"] as const) {
    schema[key]?.forEach((child, i) => walkSchema(child, visit, [...path, `${key}[${i}]`]));
  }
  if (schema.not) walkSchema(schema.not, visit, [...path, "not"]);
}

/** The schema node at a property path, or undefined. */
export function schemaAt(schema: JSONSchemaProps, path: readonly string[]): JSONSchemaProps | undefined {
  let node: JSONSchemaProps | undefined = schema;
  for (const key of path) node = node?.properties?.[key];
  return node;
}
