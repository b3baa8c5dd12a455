import type { JSONSchemaProps } from "./openapi.js";

// What the CRD schema checks share: a violation as apimachinery's field.Error carries it,
// and readers of a schema node.

export interface SchemaViolation {
  /** The field as apimachinery's field.Path prints it, starting at the schema's own path. */
  field: string;
  type: "Required" | "Forbidden" | "Invalid" | "NotSupported";
  value?: unknown;
  detail: string;
}

export const JUNCTORS = ["allOf", "anyOf", "oneOf"] as const;

export const has = (node: JSONSchemaProps, key: string) => {
  const v = (node as Record<string, unknown>)[key];
  if (v === undefined || v === null || v === false || v === "") return false;
  return !(Array.isArray(v) && v.length === 0);
};
export const itemsSchema = (node: JSONSchemaProps) =>
  node.items && !Array.isArray(node.items) ? (node.items as JSONSchemaProps) : undefined;
export const additionalSchema = (node: JSONSchemaProps) =>
  typeof node.additionalProperties === "object" && node.additionalProperties !== null
    ? node.additionalProperties
    : undefined;
