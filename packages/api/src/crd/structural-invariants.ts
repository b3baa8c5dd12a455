import type { JSONSchemaProps } from "./openapi.js";
import { additionalSchema, has, itemsSchema, JUNCTORS, type SchemaViolation } from "./schema-nodes.js";

// The structural-schema rules of apiextensions-apiserver (pkg/apiserver/schema): a type
// everywhere outside anyOf/allOf/oneOf/not, nothing but value validations inside them,
// everything a root junctor names also specified outside it, metadata restricted to name
// and generateName, with upstream's field paths and messages.

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
type Level = "root" | "items" | "field";

const isIntOrStringPair = (list: JSONSchemaProps[] | undefined) =>
  Array.isArray(list) &&
  list.length === 2 &&
  list.every((s, i) => Object.keys(s).length === 1 && s.type === (i === 0 ? "integer" : "string"));

export function invariants(s: JSONSchemaProps, level: Level, at: string, out: SchemaViolation[]): void {
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
export function completeness(
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
