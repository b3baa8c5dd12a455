import type { JSONSchemaProps } from "./openapi.js";
import { openApi } from "./openapi-checks.js";
import { has, type SchemaViolation } from "./schema-nodes.js";
import { completeness, invariants } from "./structural-invariants.js";

export type { SchemaViolation } from "./schema-nodes.js";

// The checks kube-apiserver runs on an apiextensions.k8s.io/v1 CRD's openAPIV3Schema before
// it accepts it: the schema must be structural (a type everywhere outside anyOf/allOf/oneOf/
// not, nothing but value validations inside them, everything they name also specified
// outside them, metadata restricted to name and generateName), and the OpenAPI checks of a
// v1 create (forbidden keywords, list and map types, list map keys). Violations carry the
// field path and message apiextensions-apiserver reports (`properties[spec].type: Required
// value: must not be empty for specified object fields`); an empty list means a real API
// server would accept the schema. The devcluster runs the same checks when a CRD is
// created; test/fixtures/upstream/structural-schemas.json holds upstream's cases.

/** JSONSchemaProps' fields (JSON name: Go name) in the order of the Go type. */
const GO_FIELD_ORDER = (
  "id:ID $schema:Schema $ref:Ref description:Description type:Type format:Format title:Title default:Default " +
  "maximum:Maximum exclusiveMaximum:ExclusiveMaximum minimum:Minimum exclusiveMinimum:ExclusiveMinimum " +
  "maxLength:MaxLength minLength:MinLength pattern:Pattern maxItems:MaxItems minItems:MinItems " +
  "uniqueItems:UniqueItems multipleOf:MultipleOf enum:Enum maxProperties:MaxProperties minProperties:MinProperties " +
  "required:Required items:Items allOf:AllOf oneOf:OneOf anyOf:AnyOf not:Not properties:Properties " +
  "additionalProperties:AdditionalProperties patternProperties:PatternProperties dependencies:Dependencies " +
  "additionalItems:AdditionalItems definitions:Definitions externalDocs:ExternalDocs example:Example " +
  "nullable:Nullable x-kubernetes-preserve-unknown-fields:XPreserveUnknownFields " +
  "x-kubernetes-embedded-resource:XEmbeddedResource x-kubernetes-int-or-string:XIntOrString " +
  "x-kubernetes-list-map-keys:XListMapKeys x-kubernetes-list-type:XListType x-kubernetes-map-type:XMapType " +
  "x-kubernetes-validations:XValidations"
)
  .split(" ")
  .map((p) => p.split(":") as [string, string]);
/** The Go fields a root may have with a status subresource, as upstream lists them in its message. */
const ALLOWED_AT_STATUS_ROOT = (
  "Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern " +
  "MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields " +
  "XValidations"
).split(" ");

/** With a status subresource the root is an object with a few kinds of fields only: the first offence is reported. */
function statusRoot(root: JSONSchemaProps, base: string): SchemaViolation | undefined {
  for (const [key, goName] of GO_FIELD_ORDER) {
    if (!has(root, key)) continue;
    if (key === "type") {
      if (root.type !== "object")
        return {
          field: `${base}.type`,
          type: "Invalid",
          value: root.type,
          detail: 'only "object" is allowed as the type at the root of the schema if the status subresource is enabled',
        };
      continue;
    }
    if (!ALLOWED_AT_STATUS_ROOT.includes(goName))
      return {
        field: base,
        type: "Invalid",
        value: root,
        detail: `only [${ALLOWED_AT_STATUS_ROOT.join(" ")}] fields are allowed at the root of the schema if the status subresource is enabled`,
      };
  }
  return undefined;
}

/** Violations of the v1 rules, their fields starting at `base` (the schema's own path). */
export function schemaViolations(
  root: JSONSchemaProps,
  base = "openAPIV3Schema",
  options: { statusSubresource?: boolean } = {},
): SchemaViolation[] {
  const out: SchemaViolation[] = [];
  const status = options.statusSubresource ? statusRoot(root, base) : undefined;
  if (status) out.push(status);
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
