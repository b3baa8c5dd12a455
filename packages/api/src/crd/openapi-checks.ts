import type { JSONSchemaProps } from "./openapi.js";
import { additionalSchema, has, itemsSchema, JUNCTORS, type SchemaViolation } from "./schema-nodes.js";

// The OpenAPI checks of an apiextensions.k8s.io/v1 create (pkg/apis/apiextensions/validation):
// keywords a CRD may not use, types, list and map types and list map keys, with upstream's
// field paths and messages; unknown keywords are reported too.

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

export function openApi(s: JSONSchemaProps, at: string, isRoot: boolean, ctx: Context, out: SchemaViolation[]): void {
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
    if (Array.isArray(s.items))
      out.push({
        field: `${at}.items`,
        type: "Invalid",
        value: s.items,
        detail: "must only have a single schema if x-kubernetes-list-type is map",
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
