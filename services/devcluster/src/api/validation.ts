import type { FieldError } from "./errors.js";
import { finalizerErrors } from "./finalizers.js";
import type { KubeObject, ResourceDef } from "./resources.js";
import { validateWorkload } from "../workloads/validation.js";

// Object-metadata validation as apimachinery's ValidateObjectMeta does it, with the real
// messages, plus the few built-in checks the emulator needs (a pod has containers).

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Resources whose names must be DNS labels rather than subdomains. */
const LABEL_NAMED = new Set(["namespaces", "services"]);

export function validateName(def: ResourceDef, name: string, field = "metadata.name"): FieldError[] {
  if (LABEL_NAMED.has(def.resource)) {
    if (name.length > 63)
      return [{ type: "FieldValueInvalid", field, value: name, detail: "must be no more than 63 characters" }];
    if (!DNS1123_LABEL.test(name)) return [{ type: "FieldValueInvalid", field, value: name, detail: LABEL_MSG }];
    return [];
  }
  if (def.custom || def.group === "rbac.authorization.k8s.io") {
    // Custom resources and RBAC objects only need a valid path segment (the real
    // server's path-segment name validation for RBAC; CRs additionally use subdomain).
    if (name === "." || name === ".." || name.includes("/") || name.includes("%")) {
      return [
        {
          type: "FieldValueInvalid",
          field,
          value: name,
          detail: `may not contain '/' or '%' and may not be '.' or '..'`,
        },
      ];
    }
    if (def.group === "rbac.authorization.k8s.io") return [];
  }
  if (name.length > 253)
    return [{ type: "FieldValueInvalid", field, value: name, detail: "must be no more than 253 characters" }];
  if (!DNS1123_SUBDOMAIN.test(name)) return [{ type: "FieldValueInvalid", field, value: name, detail: SUBDOMAIN_MSG }];
  return [];
}

export function qualifiedNameErrors(key: string, field: string): FieldError[] {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const errs: FieldError[] = [];
  if (prefix !== undefined && (!DNS1123_SUBDOMAIN.test(prefix) || prefix.length > 253)) {
    errs.push({ type: "FieldValueInvalid", field, value: key, detail: `prefix part ${SUBDOMAIN_MSG}` });
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    errs.push({
      type: "FieldValueInvalid",
      field,
      value: key,
      detail:
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    });
  }
  return errs;
}

export function validateMetadata(def: ResourceDef, obj: KubeObject): FieldError[] {
  const m = obj.metadata;
  const errs: FieldError[] = [];
  if (!m.name)
    errs.push({ type: "FieldValueRequired", field: "metadata.name", detail: "name or generateName is required" });
  else errs.push(...validateName(def, m.name));
  if (def.namespaced && !m.namespace) errs.push({ type: "FieldValueRequired", field: "metadata.namespace" });
  if (!def.namespaced && m.namespace)
    errs.push({ type: "FieldValueForbidden", field: "metadata.namespace", detail: "not allowed on this type" });
  for (const [k, v] of Object.entries(m.labels ?? {})) {
    errs.push(...qualifiedNameErrors(k, "metadata.labels"));
    if (typeof v !== "string" || v.length > 63 || !LABEL_VALUE.test(v)) {
      errs.push({
        type: "FieldValueInvalid",
        field: "metadata.labels",
        value: v,
        detail:
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
      });
    }
  }
  let annotationBytes = 0;
  for (const [k, v] of Object.entries(m.annotations ?? {})) {
    errs.push(...qualifiedNameErrors(k.toLowerCase(), "metadata.annotations"));
    annotationBytes += k.length + (typeof v === "string" ? v.length : 0);
  }
  if (annotationBytes > 262144)
    errs.push({
      type: "FieldValueTooLong",
      field: "metadata.annotations",
      detail: "may not be more than 262144 bytes",
    });
  errs.push(...finalizerErrors(def, Array.isArray(m.finalizers) ? m.finalizers : []));
  for (const [i, ref] of (m.ownerReferences ?? []).entries()) {
    for (const k of ["apiVersion", "kind", "name", "uid"] as const) {
      if (!ref?.[k])
        errs.push({
          type: "FieldValueInvalid",
          field: `metadata.ownerReferences[${i}].${k}`,
          value: ref?.[k] ?? "",
          detail: `${k} must not be empty`,
        });
    }
  }
  if ((m.ownerReferences ?? []).filter((r) => r.controller).length > 1) {
    errs.push({
      type: "FieldValueInvalid",
      field: "metadata.ownerReferences",
      value: m.ownerReferences,
      detail: "Only one reference can have Controller set to true",
    });
  }
  return errs;
}

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});

function validatePodSpec(spec: Obj, at: string): FieldError[] {
  const errs: FieldError[] = [];
  const containers = spec["containers"];
  if (!Array.isArray(containers) || containers.length === 0)
    errs.push({ type: "FieldValueRequired", field: `${at}.containers` });
  const names = new Set<string>();
  for (const [list, items] of [
    ["containers", containers],
    ["initContainers", spec["initContainers"]],
  ] as const) {
    if (!Array.isArray(items)) continue;
    items.forEach((c, i) => {
      const name = asObj(c)["name"];
      if (typeof name !== "string" || !name)
        errs.push({ type: "FieldValueRequired", field: `${at}.${list}[${i}].name` });
      else if (names.has(name))
        errs.push({ type: "FieldValueDuplicate", field: `${at}.${list}[${i}].name`, value: name });
      else {
        names.add(name);
        if (!DNS1123_LABEL.test(name))
          errs.push({ type: "FieldValueInvalid", field: `${at}.${list}[${i}].name`, value: name, detail: LABEL_MSG });
      }
      if (!asObj(c)["image"]) errs.push({ type: "FieldValueRequired", field: `${at}.${list}[${i}].image` });
    });
  }
  return errs;
}

/** Built-in type checks the emulator enforces (a subset of the real validation). */
export function validateBuiltin(def: ResourceDef, obj: KubeObject): FieldError[] {
  if (def.custom) return [];
  const workload = validateWorkload(def, obj, validatePodSpec);
  if (workload) return workload;
  if (def.resource === "pods") return validatePodSpec(asObj(obj["spec"]), "spec");
  if (def.resource === "jobs") {
    const tpl = asObj(asObj(obj["spec"])["template"]);
    const errs = validatePodSpec(asObj(tpl["spec"]), "spec.template.spec");
    const rp = asObj(tpl["spec"])["restartPolicy"];
    if (rp !== "Never" && rp !== "OnFailure")
      errs.push({
        type: "FieldValueNotSupported",
        field: "spec.template.spec.restartPolicy",
        value: rp ?? "",
        detail: 'supported values: "OnFailure", "Never"',
      });
    return errs;
  }
  if (def.resource === "configmaps" && def.group === "") return validateConfigMapSize(obj);
  return [];
}

/** core/v1 MaxSecretSize: the data of a ConfigMap (values, not keys) stays under 1 MiB. */
export const MAX_CONFIGMAP_DATA_BYTES = 1024 * 1024;

function validateConfigMapSize(obj: KubeObject): FieldError[] {
  let total = 0;
  for (const v of Object.values(asObj(obj["data"]))) if (typeof v === "string") total += Buffer.byteLength(v);
  for (const v of Object.values(asObj(obj["binaryData"])))
    if (typeof v === "string") total += Buffer.byteLength(v, "base64");
  // Upstream passes an empty path (the whole object), which prints as "[]".
  return total > MAX_CONFIGMAP_DATA_BYTES
    ? [{ type: "FieldValueTooLong", field: "[]", detail: `may not be more than ${MAX_CONFIGMAP_DATA_BYTES} bytes` }]
    : [];
}
