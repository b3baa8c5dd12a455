import { schemaViolations, type JSONSchemaProps } from "@nnunet-operator/api";
import { createCrdValidator, type CrdValidator } from "@nnunet-operator/api/testing";
import { Environment } from "@marcbachmann/cel-js";
import type { FieldError } from "./errors.js";
import { mergeSchemaFromOpenApi, withMetadata, type MergeSchema } from "./patch-schema.js";
import type { KubeObject, PrinterColumn, ResourceDef } from "./resources.js";

// CustomResourceDefinitions: validation of the CRD itself (names, versions, a structural
// schema, compilable CEL rules), its defaulting and status, and the resource definitions
// and validators its served versions register.

type Obj = Record<string, unknown>;

export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: JSONSchemaProps };
  subresources?: { status?: Obj; scale?: Obj };
  additionalPrinterColumns?: PrinterColumn[];
}

export interface CrdSpec {
  group: string;
  names: {
    kind: string;
    plural: string;
    singular?: string;
    listKind?: string;
    shortNames?: string[];
    categories?: string[];
  };
  scope: "Namespaced" | "Cluster";
  versions: CrdVersion[];
}

export interface CustomResourceInfo {
  def: ResourceDef;
  validator: CrdValidator | undefined;
  mergeSchema: MergeSchema;
  schema: JSONSchemaProps | undefined;
}

const cel = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });

export function defaultCrd(crd: KubeObject): void {
  const spec = (crd["spec"] ?? {}) as CrdSpec;
  if (spec.names?.kind) {
    spec.names.singular ??= spec.names.kind.toLowerCase();
    spec.names.listKind ??= `${spec.names.kind}List`;
  }
  (crd["spec"] as Obj)["conversion"] ??= { strategy: "None" };
}

export function validateCrd(crd: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = (crd["spec"] ?? {}) as Partial<CrdSpec>;
  const names = spec.names;
  if (!spec.group) errs.push({ type: "FieldValueRequired", field: "spec.group" });
  if (!names?.plural) errs.push({ type: "FieldValueRequired", field: "spec.names.plural" });
  if (!names?.kind) errs.push({ type: "FieldValueRequired", field: "spec.names.kind" });
  if (spec.group && names?.plural && crd.metadata.name !== `${names.plural}.${spec.group}`) {
    errs.push({
      type: "FieldValueInvalid",
      field: "metadata.name",
      value: crd.metadata.name,
      detail: 'must be spec.names.plural+"."+spec.group',
    });
  }
  if (spec.scope !== "Namespaced" && spec.scope !== "Cluster") {
    errs.push({
      type: "FieldValueNotSupported",
      field: "spec.scope",
      value: spec.scope ?? "",
      detail: 'supported values: "Cluster", "Namespaced"',
    });
  }
  const versions = spec.versions ?? [];
  if (versions.length === 0)
    errs.push({
      type: "FieldValueInvalid",
      field: "spec.versions",
      value: versions,
      detail: "must have exactly one version marked as storage version",
    });
  else if (versions.filter((v) => v.storage).length !== 1) {
    errs.push({
      type: "FieldValueInvalid",
      field: "spec.versions",
      value: versions.map((v) => v.name),
      detail: "must have exactly one version marked as storage version",
    });
  }
  versions.forEach((v, i) => {
    const schema = v.schema?.openAPIV3Schema;
    const at = `spec.versions[${i}].schema.openAPIV3Schema`;
    if (!schema) {
      errs.push({ type: "FieldValueRequired", field: at, detail: "schemas are required" });
      return;
    }
    for (const violation of schemaViolations(schema, at, { statusSubresource: v.subresources?.status !== undefined })) {
      const type = (
        {
          Required: "FieldValueRequired",
          Forbidden: "FieldValueForbidden",
          Invalid: "FieldValueInvalid",
          NotSupported: "FieldValueNotSupported",
        } as const
      )[violation.type];
      errs.push({
        type,
        field: violation.field,
        ...(violation.value !== undefined ? { value: violation.value } : {}),
        detail: violation.detail,
      });
    }
    compileRules(schema, at, errs);
  });
  return errs;
}

function compileRules(schema: JSONSchemaProps, at: string, errs: FieldError[]): void {
  (schema["x-kubernetes-validations"] ?? []).forEach((rule, i) => {
    try {
      cel.parse(rule.rule);
    } catch (error) {
      errs.push({
        type: "FieldValueInvalid",
        field: `${at}.x-kubernetes-validations[${i}].rule`,
        value: rule.rule,
        detail: `compilation failed: ${(error as Error).message}`,
      });
    }
  });
  for (const [k, v] of Object.entries(schema.properties ?? {})) compileRules(v, `${at}.properties[${k}]`, errs);
  if (schema.items) compileRules(schema.items, `${at}.items`, errs);
  if (schema.additionalProperties && typeof schema.additionalProperties === "object")
    compileRules(schema.additionalProperties, `${at}.additionalProperties`, errs);
}

export function crdStatus(crd: KubeObject, now: string): Obj {
  const spec = crd["spec"] as CrdSpec;
  const cond = (type: string, reason: string, message: string) => ({
    type,
    status: "True",
    lastTransitionTime: now,
    reason,
    message,
  });
  return {
    conditions: [
      cond("NamesAccepted", "NoConflicts", "no conflicts found"),
      cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ],
    acceptedNames: spec.names,
    storedVersions: spec.versions.filter((v) => v.storage).map((v) => v.name),
  };
}

/** The resource definitions of a CRD's served versions, sharing one storage key. */
export function customResources(crd: KubeObject): CustomResourceInfo[] {
  const spec = crd["spec"] as CrdSpec;
  const storageVersion = spec.versions.find((v) => v.storage)?.name ?? spec.versions[0]!.name;
  const storage = `${spec.names.plural}.${spec.group}`;
  return spec.versions
    .filter((v) => v.served)
    .map((v) => {
      const schema = v.schema?.openAPIV3Schema;
      const def: ResourceDef = {
        group: spec.group,
        version: v.name,
        resource: spec.names.plural,
        singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
        kind: spec.names.kind,
        listKind: spec.names.listKind ?? `${spec.names.kind}List`,
        namespaced: spec.scope === "Namespaced",
        shortNames: spec.names.shortNames ?? [],
        categories: spec.names.categories ?? [],
        verbs: ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
        statusSubresource: v.subresources?.status !== undefined,
        generation: true,
        storage,
        custom: true,
        printerColumns: v.additionalPrinterColumns ?? [],
        convert: {
          // conversion strategy None: only apiVersion changes between versions.
          storedApiVersion: `${spec.group}/${storageVersion}`,
          toStored: (o) => ({ ...o, apiVersion: `${spec.group}/${storageVersion}` }),
          fromStored: (o) => ({ ...o, apiVersion: `${spec.group}/${v.name}` }),
        },
      };
      return {
        def,
        validator: schema ? createCrdValidator(schema) : undefined,
        mergeSchema: withMetadata(mergeSchemaFromOpenApi(schema)),
        schema,
      };
    });
}
