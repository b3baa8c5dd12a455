import { Ajv, type ErrorObject } from "ajv";
import { Environment } from "@marcbachmann/cel-js";
import type { JSONSchemaProps } from "../crd/openapi.js";

// Validates an object against a CRD's openAPIV3Schema the way kube-apiserver does on
// create and update: apply schema defaults, report unknown fields (strict field
// validation), check the value validations (ajv), list types, then the
// x-kubernetes-validations CEL rules, with oldSelf on update. Used by the tests of the
// generated CRD and by the devcluster for every custom resource.

export interface FieldCause {
  /** Dotted path with indices, such as `spec.folds[1]`. */
  readonly field: string;
  readonly message: string;
  readonly reason:
    | "FieldValueInvalid"
    | "FieldValueRequired"
    | "FieldValueDuplicate"
    | "FieldValueNotSupported"
    | "FieldValueForbidden"
    | "FieldValueTypeInvalid"
    | "UnknownField";
}

export interface ValidateOptions {
  /** The stored object, on update: enables transition rules (oldSelf). */
  readonly old?: unknown;
  /** Strict reports unknown fields as errors, Ignore prunes them silently (the API server's fieldValidation). */
  readonly fieldValidation?: "Strict" | "Ignore";
}

export interface CrdValidator {
  /** Returns the defaulted, pruned object and the causes; the input is not modified. */
  validate(obj: unknown, options?: ValidateOptions): { object: unknown; causes: FieldCause[] };
}

const cel = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });
const compiled = new Map<string, ReturnType<typeof cel.parse>>();
function celProgram(rule: string) {
  let program = compiled.get(rule);
  if (!program) {
    program = cel.parse(rule);
    compiled.set(rule, program);
  }
  return program;
}

export function createCrdValidator(schema: JSONSchemaProps): CrdValidator {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const check = ajv.compile(schema);
  return {
    validate(obj, options = {}) {
      const object = structuredClone(obj);
      const causes: FieldCause[] = [];
      applyDefaults(schema, object);
      const unknown: string[] = [];
      prune(schema, object, "", unknown, true);
      if (options.fieldValidation !== "Ignore") {
        for (const field of unknown)
          causes.push({ field, message: `unknown field "${field}"`, reason: "UnknownField" });
      }
      if (!check(object)) causes.push(...(check.errors ?? []).filter(relevant).map(fromAjv));
      checkLists(schema, object, "", causes);
      if (causes.length === 0) evalRules(schema, object, options.old, "", causes);
      return { object, causes };
    },
  };
}

/** Sets missing fields that have a default, recursively, as the API server's defaulting does. */
export function applyDefaults(schema: JSONSchemaProps, value: unknown): void {
  if (Array.isArray(value)) {
    if (schema.items) for (const item of value) applyDefaults(schema.items, item);
    return;
  }
  if (!isObject(value)) return;
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    if (value[name] === undefined && child.default !== undefined) value[name] = structuredClone(child.default);
    if (value[name] !== undefined) applyDefaults(child, value[name]);
  }
  if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
    for (const v of Object.values(value)) applyDefaults(schema.additionalProperties, v);
  }
}

function prune(schema: JSONSchemaProps, value: unknown, path: string, unknown: string[], root = false): void {
  if (schema["x-kubernetes-preserve-unknown-fields"] || schema["x-kubernetes-embedded-resource"]) return;
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((item, i) => prune(schema.items!, item, `${path}[${i}]`, unknown));
    return;
  }
  if (!isObject(value)) return;
  if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
    for (const [k, v] of Object.entries(value)) prune(schema.additionalProperties, v, `${path}.${k}`, unknown);
    return;
  }
  for (const key of Object.keys(value)) {
    const child = schema.properties?.[key];
    // apiVersion, kind and metadata are implicit at the root of every object.
    if (root && (key === "apiVersion" || key === "kind" || key === "metadata")) continue;
    const at = path ? `${path}.${key}` : key;
    if (!child) {
      unknown.push(at);
      delete value[key];
    } else prune(child, value[key], at, unknown);
  }
}

function checkLists(schema: JSONSchemaProps, value: unknown, path: string, causes: FieldCause[]): void {
  if (Array.isArray(value)) {
    const listType = schema["x-kubernetes-list-type"];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const at = `${path}[${i}]`;
      let key: string | undefined;
      if (listType === "set") key = JSON.stringify(item);
      if (listType === "map" && isObject(item)) {
        key = JSON.stringify((schema["x-kubernetes-list-map-keys"] ?? []).map((k) => item[k]));
      }
      if (key !== undefined) {
        if (seen.has(key))
          causes.push({ field: at, message: `Duplicate value: ${key}`, reason: "FieldValueDuplicate" });
        seen.add(key);
      }
      if (schema.items) checkLists(schema.items, item, at, causes);
    });
    return;
  }
  if (!isObject(value)) return;
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    if (value[name] !== undefined) checkLists(child, value[name], path ? `${path}.${name}` : name, causes);
  }
}

function evalRules(schema: JSONSchemaProps, value: unknown, old: unknown, path: string, causes: FieldCause[]): void {
  if (value === undefined) return;
  for (const rule of schema["x-kubernetes-validations"] ?? []) {
    const transition = /\boldSelf\b/.test(rule.rule);
    if (transition && old === undefined) continue;
    let holds: unknown;
    try {
      holds = celProgram(rule.rule)({ self: toCel(schema, value), oldSelf: toCel(schema, old) });
    } catch (error) {
      holds = false;
      causes.push({
        field: path || "(root)",
        message: `rule "${rule.rule}" could not be evaluated: ${(error as Error).message}`,
        reason: "FieldValueInvalid",
      });
      continue;
    }
    if (holds !== true) {
      const field = joinPath(path, rule.fieldPath ?? "");
      const reason = (rule.reason as FieldCause["reason"] | undefined) ?? "FieldValueInvalid";
      causes.push({ field: field || "(root)", message: rule.message ?? `failed rule: ${rule.rule}`, reason });
    }
  }
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((item, i) => evalRules(schema.items!, item, undefined, `${path}[${i}]`, causes));
    return;
  }
  if (!isObject(value)) return;
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const oldChild = isObject(old) ? old[name] : undefined;
    evalRules(child, value[name], oldChild, path ? `${path}.${name}` : name, causes);
  }
}

/** CEL sees integers as int (BigInt here), as the API server types them from the schema. */
function toCel(schema: JSONSchemaProps | undefined, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (
    typeof value === "number" &&
    Number.isInteger(value) &&
    (schema?.type === "integer" || schema?.["x-kubernetes-int-or-string"])
  ) {
    return BigInt(value);
  }
  if (Array.isArray(value)) return value.map((v) => toCel(schema?.items, v));
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    const extra = typeof schema?.additionalProperties === "object" ? schema.additionalProperties : undefined;
    for (const [k, v] of Object.entries(value)) out[k] = toCel(schema?.properties?.[k] ?? extra, v);
    return out;
  }
  return value;
}

function fromAjv(error: ErrorObject): FieldCause {
  const parts = error.instancePath
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  let field = parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
  let reason: FieldCause["reason"] = "FieldValueInvalid";
  if (error.keyword === "required") {
    field = joinPath(field, `.${(error.params as { missingProperty: string }).missingProperty}`);
    reason = "FieldValueRequired";
  } else if (error.keyword === "enum") reason = "FieldValueNotSupported";
  else if (error.keyword === "type") reason = "FieldValueTypeInvalid";
  const detail =
    error.keyword === "enum"
      ? `${error.message}: ${JSON.stringify((error.params as { allowedValues: unknown[] }).allowedValues)}`
      : error.message;
  return { field: field || "(root)", message: `${field || "(root)"} ${detail ?? "is invalid"}`, reason };
}

/** The anyOf branches of an int-or-string node repeat the type error; keep the node's own. */
function relevant(error: ErrorObject): boolean {
  return !error.schemaPath.includes("/anyOf/");
}

function joinPath(path: string, fieldPath: string): string {
  if (!fieldPath) return path;
  return `${path}${fieldPath}`.replace(/^\./, "");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
