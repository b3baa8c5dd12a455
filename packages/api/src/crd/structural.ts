import type { JSONSchemaProps } from "./openapi.js";

// The checks kube-apiserver runs on a CRD's openAPIV3Schema before it accepts it
// (apiextensions validation: structural schema, forbidden fields, list types). Returns the
// violations as `path: message`; an empty list means a real API server would accept it.
// The devcluster uses the same checks when a CRD is created.

const KNOWN_KEYS = new Set([
  "description",
  "type",
  "format",
  "title",
  "default",
  "maximum",
  "exclusiveMaximum",
  "minimum",
  "exclusiveMinimum",
  "maxLength",
  "minLength",
  "pattern",
  "maxItems",
  "minItems",
  "uniqueItems",
  "multipleOf",
  "enum",
  "maxProperties",
  "minProperties",
  "required",
  "items",
  "allOf",
  "oneOf",
  "anyOf",
  "not",
  "properties",
  "additionalProperties",
  "externalDocs",
  "example",
  "nullable",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-embedded-resource",
  "x-kubernetes-int-or-string",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-list-type",
  "x-kubernetes-map-type",
  "x-kubernetes-validations",
]);
const FORBIDDEN_KEYS = ["$ref", "$schema", "id", "definitions", "patternProperties", "dependencies", "additionalItems"];
const TYPES = new Set(["object", "array", "string", "integer", "number", "boolean"]);
/** Fields that may not appear inside anyOf/allOf/oneOf/not (they are structural). */
const STRUCTURAL_IN_JUNCTOR = [
  "type",
  "description",
  "default",
  "additionalProperties",
  "nullable",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-embedded-resource",
  "x-kubernetes-int-or-string",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-map-type",
  "x-kubernetes-validations",
];
const SCALAR = new Set(["string", "integer", "number", "boolean"]);

function isIntOrStringPattern(node: JSONSchemaProps): boolean {
  const a = node.anyOf;
  return (
    Array.isArray(a) &&
    a.length === 2 &&
    a[0]?.type === "integer" &&
    a[1]?.type === "string" &&
    Object.keys(a[0]).length === 1 &&
    Object.keys(a[1]).length === 1
  );
}

export function structuralViolations(root: JSONSchemaProps): string[] {
  const out: string[] = [];
  if (root.type !== "object") out.push("(root): type must be object");
  const meta = root.properties?.metadata;
  if (meta) {
    const extra = Object.keys(meta.properties ?? {}).filter((k) => k !== "name" && k !== "generateName");
    if (extra.length > 0) out.push(`metadata: only name and generateName may be specified, not ${extra.join(", ")}`);
  }
  check(root, "", false, out);
  return out;
}

function check(node: JSONSchemaProps, path: string, inJunctor: boolean, out: string[]): void {
  const at = path || "(root)";
  for (const key of Object.keys(node)) {
    if (FORBIDDEN_KEYS.includes(key)) out.push(`${at}: ${key} is forbidden in a CRD schema`);
    else if (!KNOWN_KEYS.has(key)) out.push(`${at}: unknown field ${key}`);
  }
  if (node.uniqueItems === true) out.push(`${at}: uniqueItems cannot be true; use x-kubernetes-list-type: set`);
  if (node.properties && node.additionalProperties !== undefined) {
    out.push(`${at}: additionalProperties and properties are mutually exclusive`);
  }
  if (node.additionalProperties === false) out.push(`${at}: additionalProperties: false is not allowed`);

  if (inJunctor) {
    for (const key of STRUCTURAL_IN_JUNCTOR) {
      if (key in node) out.push(`${at}: ${key} must not be specified inside anyOf, allOf, oneOf or not`);
    }
  } else {
    const intOrString = node["x-kubernetes-int-or-string"] === true;
    const preserve = node["x-kubernetes-preserve-unknown-fields"] === true;
    if (node.type === undefined && !intOrString && !preserve) out.push(`${at}: type must not be empty`);
    if (node.type !== undefined && !TYPES.has(node.type)) out.push(`${at}: unknown type ${node.type}`);
    if (intOrString && node.type !== undefined) out.push(`${at}: type must be empty with x-kubernetes-int-or-string`);
    if (intOrString && node.anyOf && !isIntOrStringPattern(node)) {
      out.push(`${at}: x-kubernetes-int-or-string allows only anyOf: [{type: integer}, {type: string}]`);
    }
    checkListType(node, at, out);
  }

  for (const [name, child] of Object.entries(node.properties ?? {})) check(child, `${path}.${name}`, inJunctor, out);
  if (node.items) check(node.items, `${path}[]`, inJunctor, out);
  if (node.additionalProperties && typeof node.additionalProperties === "object") {
    check(node.additionalProperties, `${path}{}`, inJunctor, out);
  }
  const intOrStringPattern = node["x-kubernetes-int-or-string"] === true && isIntOrStringPattern(node);
  for (const key of ["anyOf", "allOf", "oneOf"] as const) {
    if (key === "anyOf" && intOrStringPattern) continue;
    node[key]?.forEach((child, i) => check(child, `${path}.${key}[${i}]`, true, out));
  }
  if (node.not) check(node.not, `${path}.not`, true, out);
}

function checkListType(node: JSONSchemaProps, at: string, out: string[]): void {
  const listType = node["x-kubernetes-list-type"];
  if (listType === undefined) {
    if (node["x-kubernetes-list-map-keys"])
      out.push(`${at}: x-kubernetes-list-map-keys needs x-kubernetes-list-type: map`);
    return;
  }
  if (node.type !== "array") out.push(`${at}: x-kubernetes-list-type is only allowed on arrays`);
  const items = node.items;
  const scalarItems = items && (SCALAR.has(items.type ?? "") || items["x-kubernetes-int-or-string"] === true);
  if (listType === "set" && !scalarItems) out.push(`${at}: x-kubernetes-list-type: set needs scalar items`);
  if (listType === "map") {
    const keys = node["x-kubernetes-list-map-keys"] ?? [];
    if (keys.length === 0) out.push(`${at}: x-kubernetes-list-type: map needs x-kubernetes-list-map-keys`);
    if (items?.type !== "object") out.push(`${at}: x-kubernetes-list-type: map needs object items`);
    for (const key of keys) {
      const prop = items?.properties?.[key];
      if (!prop) out.push(`${at}: list map key ${key} is not a property of the items`);
      else if (!SCALAR.has(prop.type ?? "")) out.push(`${at}: list map key ${key} must be a scalar`);
      else if (!(items?.required ?? []).includes(key) && prop.default === undefined) {
        out.push(`${at}: list map key ${key} must be required or have a default`);
      }
    }
  }
}
