import type { JSONSchemaProps } from "./openapi.js";

// The checks kube-apiserver runs on an apiextensions.k8s.io/v1 CRD's openAPIV3Schema before
// it accepts it: the schema must be structural (a type everywhere outside anyOf/allOf/oneOf/
// not, nothing but value validations inside them, everything they name also specified
// outside them, metadata restricted to name and generateName), and the OpenAPI checks of a
// v1 create (forbidden keywords, list and map types, list map keys). Violations carry the
// field path and message apiextensions-apiserver reports (`properties[spec].type: Required
// value: must not be empty for specified object fields`); an empty list means a real API
// server would accept the schema. The devcluster runs the same checks when a CRD is
// created; test/fixtures/upstream/structural-schemas.json holds upstream's cases.

export interface SchemaViolation {
  /** The field as apimachinery's field.Path prints it, starting at the schema's own path. */
  field: string;
  type: "Required" | "Forbidden" | "Invalid" | "NotSupported";
  value?: unknown;
  detail: string;
}

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
  // Keywords JSONSchemaProps knows but a CRD may not use (reported below, not as unknown).
  "$ref",
  "$schema",
  "id",
  "definitions",
  "patternProperties",
  "dependencies",
  "additionalItems",
]);
const TYPES = ["array", "boolean", "integer", "number", "object", "string"];
/** What may not appear inside anyOf/allOf/oneOf/not, with upstream's wording. */
const NOT_IN_JUNCTOR: [string, string][] = [
  ["type", "must be empty to be structural"],
  ["additionalProperties", "must be undefined to be structural"],
  ["default", "must be undefined to be structural"],
  ["title", "must be empty to be structural"],
  ["description", "must be empty to be structural"],
  ["nullable", "must be false to be structural"],
  ["x-kubernetes-preserve-unknown-fields", "must be false to be structural"],
  ["x-kubernetes-embedded-resource", "must be false to be structural"],
  ["x-kubernetes-int-or-string", "must be false to be structural"],
  ["x-kubernetes-list-map-keys", "must be empty to be structural"],
  ["x-kubernetes-list-type", "must be undefined to be structural"],
  ["x-kubernetes-map-type", "must be undefined to be structural"],
  ["x-kubernetes-validations", "must be empty to be structural"],
];
/** Keywords a schema under metadata may carry besides type, default and name/generateName properties (not part of a structural schema). */
const IGNORED_IN_METADATA = new Set(["externalDocs", "example", "type", "default", "properties"]);
const JUNCTORS = ["allOf", "anyOf", "oneOf"] as const;

type Level = "root" | "items" | "field";

const has = (node: JSONSchemaProps, key: string) => {
  const v = (node as Record<string, unknown>)[key];
  if (v === undefined || v === null || v === false || v === "") return false;
  return !(Array.isArray(v) && v.length === 0);
};
const itemsSchema = (node: JSONSchemaProps) =>
  node.items && !Array.isArray(node.items) ? (node.items as JSONSchemaProps) : undefined;
const additionalSchema = (node: JSONSchemaProps) =>
  typeof node.additionalProperties === "object" && node.additionalProperties !== null
    ? node.additionalProperties
    : undefined;
const isIntOrStringPair = (list: JSONSchemaProps[] | undefined) =>
  Array.isArray(list) &&
  list.length === 2 &&
  list.every((s, i) => Object.keys(s).length === 1 && s.type === (i === 0 ? "integer" : "string"));

/** Violations of the v1 rules, their fields starting at `base` (the schema's own path). */
export function schemaViolations(root: JSONSchemaProps, base = "openAPIV3Schema"): SchemaViolation[] {
  const out: SchemaViolation[] = [];
  if (root.nullable === true)
    out.push({ field: `${base}.nullable`, type: "Forbidden", detail: "nullable cannot be true at the root" });
  const structural: SchemaViolation[] = [];
  invariants(root, "root", base, structural);
  completeness(root, root, base, base, structural);
  structural.sort((a, b) => message(a).localeCompare(message(b)));
  out.push(...structural);
  openApi(root, base, true, { topLevelMeta: false, insideMeta: false }, out);
  // Upstream converts the schema before checking it; a keyword the conversion refuses is
  // reported only when nothing else is.
  if (out.length === 0 && mentions(root, "$schema"))
    out.push({ field: base, type: "Invalid", value: "", detail: "OpenAPIV3Schema 'schema' is not supported" });
  return out;
}

function mentions(node: unknown, key: string): boolean {
  if (Array.isArray(node)) return node.some((n) => mentions(n, key));
  if (typeof node !== "object" || node === null) return false;
  return Object.entries(node).some(([k, v]) => k === key || mentions(v, key));
}

/** `field: Type text: detail`, as field.Error prints it. */
function message(v: SchemaViolation): string {
  const type = {
    Required: "Required value",
    Forbidden: "Forbidden",
    Invalid: "Invalid value",
    NotSupported: "Unsupported value",
  }[v.type];
  const value = v.type === "Invalid" || v.type === "NotSupported" ? `: ${JSON.stringify(v.value)}` : "";
  return `${v.field}: ${type}${value}: ${v.detail}`;
}

/** The violations as `field: message` lines (the CRD generator's check). */
export function structuralViolations(root: JSONSchemaProps): string[] {
  return schemaViolations(root).map(message);
}

// ---- structural invariants (apiextensions-apiserver pkg/apiserver/schema) ----

function invariants(s: JSONSchemaProps, level: Level, at: string, out: SchemaViolation[]): void {
  const items = itemsSchema(s);
  if (s.type === "array" && s.items === undefined)
    out.push({ field: `${at}.items`, type: "Required", detail: "must be specified" });
  if (items) invariants(items, "items", `${at}.items`, out);
  for (const [k, v] of Object.entries(s.properties ?? {})) invariants(v, "field", `${at}.properties[${k}]`, out);
  if (s.additionalProperties !== undefined) {
    if (level === "root")
      out.push({ field: `${at}.additionalProperties`, type: "Forbidden", detail: "must not be used at the root" });
    const extra = additionalSchema(s);
    if (extra) invariants(extra, "field", `${at}.additionalProperties`, out);
  }
  const intOrString = s["x-kubernetes-int-or-string"] === true;
  const preserve = s["x-kubernetes-preserve-unknown-fields"] === true;
  const embedded = s["x-kubernetes-embedded-resource"] === true;
  if (intOrString && preserve)
    out.push({
      field: `${at}.x-kubernetes-preserve-unknown-fields`,
      type: "Invalid",
      value: true,
      detail: "must be false if x-kubernetes-int-or-string is true",
    });
  if (intOrString && embedded)
    out.push({
      field: `${at}.x-kubernetes-embedded-resource`,
      type: "Invalid",
      value: true,
      detail: "must be false if x-kubernetes-int-or-string is true",
    });
  // The int-or-string shapes: anyOf [{type: integer}, {type: string}], or allOf whose first item is that anyOf.
  junctors(s, at, isIntOrStringPair(s.anyOf), isIntOrStringPair(s.allOf?.[0]?.anyOf), out);
  const type = s.type ?? "";
  if (embedded && type !== "object") {
    out.push(
      type === ""
        ? { field: `${at}.type`, type: "Required", detail: "must be object if x-kubernetes-embedded-resource is true" }
        : {
            field: `${at}.type`,
            type: "Invalid",
            value: type,
            detail: "must be object if x-kubernetes-embedded-resource is true",
          },
    );
  } else if (type === "" && !intOrString && !preserve) {
    const where = { root: "at the root", items: "for specified array items", field: "for specified object fields" }[
      level
    ];
    out.push({ field: `${at}.type`, type: "Required", detail: `must not be empty ${where}` });
  }
  if (embedded && s.additionalProperties !== undefined)
    out.push({
      field: `${at}.additionalProperties`,
      type: "Forbidden",
      detail: "must not be used if x-kubernetes-embedded-resource is set",
    });
  if (level === "root" && type !== "" && type !== "object")
    out.push({ field: `${at}.type`, type: "Invalid", value: type, detail: "must be object at the root" });
  const checkMetadata = level === "root" || embedded;
  for (const name of ["kind", "apiVersion"]) {
    const p = s.properties?.[name];
    if (p && checkMetadata && p.type !== "string")
      out.push({
        field: `${at}.properties[${name}].type`,
        type: "Invalid",
        value: p.type ?? "",
        detail: "must be string",
      });
  }
  const metadata = s.properties?.["metadata"];
  if (metadata) {
    const mAt = `${at}.properties[metadata]`;
    if (checkMetadata && metadata.type !== "object")
      out.push({ field: `${mAt}.type`, type: "Invalid", value: metadata.type ?? "", detail: "must be object" });
    if (level === "root" && !onlyNameAndGenerateName(metadata))
      out.push({
        field: mAt,
        type: "Forbidden",
        detail: "must not specify anything other than name and generateName, but metadata is implicitly specified",
      });
  }
  if (embedded && !preserve && Object.keys(s.properties ?? {}).length === 0)
    out.push({
      field: `${at}.properties`,
      type: "Required",
      detail:
        "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
    });
}

function onlyNameAndGenerateName(m: JSONSchemaProps): boolean {
  const props = Object.keys(m.properties ?? {});
  if (props.some((p) => p !== "name" && p !== "generateName")) return false;
  return Object.keys(m).every((k) => IGNORED_IN_METADATA.has(k) || !has(m, k));
}

/** anyOf/allOf/oneOf/not of a structural node and, recursively, what they contain. */
function junctors(
  v: JSONSchemaProps,
  at: string,
  skipAnyOf: boolean,
  skipFirstAllOfAnyOf: boolean,
  out: SchemaViolation[],
): void {
  if (!skipAnyOf) v.anyOf?.forEach((n, i) => nested(n, `${at}.anyOf[${i}]`, false, out));
  v.allOf?.forEach((n, i) => nested(n, `${at}.allOf[${i}]`, skipFirstAllOfAnyOf && i === 0, out));
  v.oneOf?.forEach((n, i) => nested(n, `${at}.oneOf[${i}]`, false, out));
  if (v.not) nested(v.not, `${at}.not`, false, out);
  if (typeof v.pattern === "string" && v.pattern !== "") {
    try {
      new RegExp(v.pattern, "u");
    } catch (error) {
      out.push({
        field: `${at}.pattern`,
        type: "Invalid",
        value: v.pattern,
        detail: `must be a valid regular expression, but isn't: ${(error as Error).message}`,
      });
    }
  }
}

function nested(v: JSONSchemaProps, at: string, skipAnyOf: boolean, out: SchemaViolation[]): void {
  junctors(v, at, skipAnyOf, false, out);
  const items = itemsSchema(v);
  if (items) nested(items, `${at}.items`, false, out);
  for (const [k, p] of Object.entries(v.properties ?? {})) nested(p, `${at}.properties[${k}]`, false, out);
  for (const [key, detail] of NOT_IN_JUNCTOR) {
    if (key === "additionalProperties" ? v.additionalProperties !== undefined : has(v, key))
      out.push({ field: `${at}.${key}`, type: "Forbidden", detail });
  }
  if (v.properties?.["metadata"])
    out.push({
      field: `${at}.properties[metadata]`,
      type: "Forbidden",
      detail: "must not be specified in a nested context",
    });
}

/** Everything a junctor of the root names must also be specified outside it. */
function completeness(
  v: JSONSchemaProps,
  s: JSONSchemaProps | undefined,
  sAt: string,
  vAt: string,
  out: SchemaViolation[],
): void {
  const visit = (n: JSONSchemaProps, nAt: string) => nestedCompleteness(n, s, sAt, nAt, out);
  if (v.not) visit(v.not, `${vAt}.not`);
  for (const key of JUNCTORS) v[key]?.forEach((n, i) => visit(n, `${vAt}.${key}[${i}]`));
}

function nestedCompleteness(
  v: JSONSchemaProps,
  s: JSONSchemaProps | undefined,
  sAt: string,
  vAt: string,
  out: SchemaViolation[],
): void {
  if (!s) {
    out.push({ field: sAt, type: "Required", detail: `because it is defined in ${vAt}` });
    return;
  }
  completeness(v, s, sAt, vAt, out);
  const vItems = itemsSchema(v);
  if (vItems) nestedCompleteness(vItems, itemsSchema(s), `${sAt}.items`, `${vAt}.items`, out);
  for (const [k, p] of Object.entries(v.properties ?? {})) {
    const sp = s.properties?.[k];
    if (sp) nestedCompleteness(p, sp, `${sAt}.properties[${k}]`, `${vAt}.properties[${k}]`, out);
    else
      out.push({
        field: `${sAt}.properties[${k}]`,
        type: "Required",
        detail: `because it is defined in ${vAt}.properties[${k}]`,
      });
  }
}

// ---- OpenAPI checks of a v1 create (apiextensions pkg/apis/apiextensions/validation) ----

interface Context {
  /** Under kind, apiVersion or metadata at the root: defaults are not allowed there. */
  topLevelMeta: boolean;
  /** Under the object metadata of the resource or of an embedded resource. */
  insideMeta: boolean;
}

const FORBIDDEN_KEYWORDS: [string, string][] = [
  ["id", "id is not supported"],
  ["additionalItems", "additionalItems is not supported"],
  ["patternProperties", "patternProperties is not supported"],
  ["definitions", "definitions is not supported"],
  ["dependencies", "dependencies is not supported"],
  ["$ref", "$ref is not supported"],
];

function openApi(s: JSONSchemaProps, at: string, isRoot: boolean, ctx: Context, out: SchemaViolation[]): void {
  const node = s as Record<string, unknown>;
  for (const key of Object.keys(s))
    if (!KNOWN_KEYS.has(key)) out.push({ field: `${at}.${key}`, type: "Forbidden", detail: `unknown field ${key}` });
  const type = s.type ?? "";
  if (type !== "" && !TYPES.includes(type))
    out.push({
      field: `${at}.type`,
      type: "NotSupported",
      value: type,
      detail: `supported values: ${TYPES.map((t) => `"${t}"`).join(", ")}`,
    });
  if (s.default !== undefined && ctx.topLevelMeta)
    out.push({ field: `${at}.default`, type: "Forbidden", detail: "must not be set in top-level metadata" });
  for (const [key, detail] of FORBIDDEN_KEYWORDS)
    if (has(s, key) || (key === "$ref" && node["$ref"] !== undefined))
      out.push({ field: `${at}.${key}`, type: "Forbidden", detail });
  if (type === "null")
    out.push({
      field: `${at}.type`,
      type: "Forbidden",
      detail: "type cannot be set to null, use nullable as an alternative",
    });
  if (Array.isArray(s.items) && s.items.length > 0)
    out.push({ field: `${at}.items`, type: "Forbidden", detail: "items must be a schema object and not an array" });
  if (ctx.insideMeta && s["x-kubernetes-embedded-resource"] === true)
    out.push({
      field: `${at}.x-kubernetes-embedded-resource`,
      type: "Forbidden",
      detail: "must not be used inside of resource meta",
    });
  if (s.uniqueItems === true)
    out.push({
      field: `${at}.uniqueItems`,
      type: "Forbidden",
      detail: "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
    });
  const props = Object.entries(s.properties ?? {});
  if (s.additionalProperties !== undefined && props.length > 0 && s.additionalProperties !== true)
    out.push({
      field: `${at}.additionalProperties`,
      type: "Forbidden",
      detail: "additionalProperties and properties are mutual exclusive",
    });
  const extra = additionalSchema(s);
  if (extra)
    openApi(extra, `${at}.additionalProperties`, false, { topLevelMeta: false, insideMeta: ctx.insideMeta }, out);
  const embedded = s["x-kubernetes-embedded-resource"] === true;
  for (const [k, p] of props) {
    const meta = (isRoot || embedded) && (k === "metadata" || k === "kind" || k === "apiVersion");
    openApi(
      p,
      `${at}.properties[${k}]`,
      false,
      { topLevelMeta: ctx.topLevelMeta || (meta && isRoot), insideMeta: ctx.insideMeta || meta },
      out,
    );
  }
  if (s.not) openApi(s.not, `${at}.not`, false, ctx, out);
  for (const key of JUNCTORS) s[key]?.forEach((n, i) => openApi(n, `${at}.${key}[${i}]`, false, ctx, out));
  const items = itemsSchema(s);
  if (items) openApi(items, `${at}.items`, false, ctx, out);
  listAndMapTypes(s, at, out);
}

function listAndMapTypes(s: JSONSchemaProps, at: string, out: SchemaViolation[]): void {
  const type = s.type ?? "";
  const listType = s["x-kubernetes-list-type"];
  const mapType = s["x-kubernetes-map-type"];
  const keys = s["x-kubernetes-list-map-keys"] ?? [];
  const items = itemsSchema(s);
  if (s["x-kubernetes-preserve-unknown-fields"] === false)
    out.push({
      field: `${at}.x-kubernetes-preserve-unknown-fields`,
      type: "Invalid",
      value: false,
      detail: "must be true or undefined",
    });
  if (mapType !== undefined && type !== "object")
    out.push(
      type === ""
        ? { field: `${at}.type`, type: "Required", detail: "must be object if x-kubernetes-map-type is specified" }
        : {
            field: `${at}.type`,
            type: "Invalid",
            value: type,
            detail: "must be object if x-kubernetes-map-type is specified",
          },
    );
  if (mapType !== undefined && mapType !== "atomic" && mapType !== "granular")
    out.push({
      field: `${at}.x-kubernetes-map-type`,
      type: "NotSupported",
      value: mapType,
      detail: 'supported values: "atomic", "granular"',
    });
  if (listType !== undefined && type !== "array") {
    out.push(
      type === ""
        ? { field: `${at}.type`, type: "Required", detail: "must be array if x-kubernetes-list-type is specified" }
        : {
            field: `${at}.type`,
            type: "Invalid",
            value: type,
            detail: "must be array if x-kubernetes-list-type is specified",
          },
    );
  } else if (listType === "set" && items) {
    // Items of a set are compared whole: nested lists and maps must be atomic.
    if (
      items.type === "array" &&
      items["x-kubernetes-list-type"] !== undefined &&
      items["x-kubernetes-list-type"] !== "atomic"
    )
      out.push({
        field: `${at}.items.x-kubernetes-list-type`,
        type: "Invalid",
        value: items["x-kubernetes-list-type"],
        detail: "must be atomic as item of a list with x-kubernetes-list-type=set",
      });
    if (items.type === "object" && items["x-kubernetes-map-type"] !== "atomic")
      out.push({
        field: `${at}.items.x-kubernetes-map-type`,
        type: "Invalid",
        value: items["x-kubernetes-list-type"] ?? null,
        detail: "must be atomic as item of a list with x-kubernetes-list-type=set",
      });
  }
  if (listType !== undefined && !["atomic", "set", "map"].includes(listType))
    out.push({
      field: `${at}.x-kubernetes-list-type`,
      type: "NotSupported",
      value: listType,
      detail: 'supported values: "atomic", "set", "map"',
    });
  if (keys.length > 0 && listType !== "map")
    out.push(
      listType === undefined
        ? {
            field: `${at}.x-kubernetes-list-type`,
            type: "Required",
            detail: "must be map if x-kubernetes-list-map-keys is non-empty",
          }
        : {
            field: `${at}.x-kubernetes-list-type`,
            type: "Invalid",
            value: listType,
            detail: "must be map if x-kubernetes-list-map-keys is non-empty",
          },
    );
  if (listType === "map") {
    if (keys.length === 0)
      out.push({
        field: `${at}.x-kubernetes-list-map-keys`,
        type: "Required",
        detail: "must not be empty if x-kubernetes-list-type is map",
      });
    if (s.items === undefined)
      out.push({
        field: `${at}.items`,
        type: "Required",
        detail: "must have a schema if x-kubernetes-list-type is map",
      });
    if (items && items.type !== "object")
      out.push({
        field: `${at}.items.type`,
        type: "Invalid",
        value: items.type ?? "",
        detail: "must be object if parent array's x-kubernetes-list-type is map",
      });
    if (items?.type === "object") {
      const seen = new Set<string>();
      for (const k of keys) {
        const p = items.properties?.[k];
        if (!p)
          out.push({
            field: `${at}.x-kubernetes-list-map-keys`,
            type: "Invalid",
            value: keys,
            detail: "entries must all be names of item properties",
          });
        else if (p.type === "array" || p.type === "object")
          out.push({
            field: `${at}.items.properties[${k}].type`,
            type: "Invalid",
            value: items.type,
            detail: "must be a scalar type if parent array's x-kubernetes-list-type is map",
          });
        if (seen.has(k))
          out.push({
            field: `${at}.x-kubernetes-list-map-keys`,
            type: "Invalid",
            value: keys,
            detail: "must not contain duplicate entries",
          });
        seen.add(k);
      }
    }
  }
  if (items && (listType === "set" || listType === "map")) {
    if (items.nullable === true)
      out.push({
        field: `${at}.items.nullable`,
        type: "Forbidden",
        detail: `cannot be nullable when x-kubernetes-list-type is ${listType}`,
      });
    if (listType === "map") {
      for (const k of keys) {
        const p = items.properties?.[k];
        if (!p) continue;
        if (!(items.required ?? []).includes(k) && p.default === undefined)
          out.push({
            field: `${at}.items.properties[${k}].default`,
            type: "Required",
            detail:
              "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
          });
        if (p.nullable === true)
          out.push({
            field: `${at}.items.properties[${k}].nullable`,
            type: "Forbidden",
            detail: "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
          });
      }
    }
  }
}
