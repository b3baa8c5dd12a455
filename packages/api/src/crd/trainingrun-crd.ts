import {
  API_VERSION,
  CATEGORIES,
  CRD_NAME,
  GROUP,
  KIND,
  LIST_KIND,
  PLURAL,
  SHORT_NAMES,
  SINGULAR,
  VERSION,
} from "../v1alpha1/group.js";
import { CROSS_FIELD_RULES } from "../v1alpha1/rules.js";
import { TrainingRunSpec } from "../v1alpha1/spec.js";
import { TrainingRunStatus } from "../v1alpha1/status.js";
import { type JSONSchemaProps, schemaAt, toStructural } from "./openapi.js";

// The TrainingRun CustomResourceDefinition, built from the zod schemas. scripts/gen-crd.ts
// writes it to crds/; tests compare the file with this function's output.

// What `kubectl get tr` shows at a glance; -o wide adds the priority-1 columns. Every value is
// a status.summary field the operator computes once (services/operator decide/accounting.ts),
// the same the plugin prints. Age stays last: new columns go before it.
export const PRINTER_COLUMNS = [
  { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Lifecycle phase of the run." },
  {
    name: "Folds",
    type: "string",
    jsonPath: ".status.summary.folds",
    description: "Folds that finished training over the run's folds.",
  },
  {
    name: "Epoch",
    type: "string",
    jsonPath: ".status.summary.epochs",
    description: "Last finished epoch of the slowest and the furthest fold still training, over planned epochs.",
  },
  {
    name: "GPU-h",
    type: "number",
    jsonPath: ".status.summary.gpuHours",
    description: "GPU-hours used: the epoch times the trainer logged, times GPUs per fold.",
  },
  {
    name: "Saved",
    type: "string",
    jsonPath: ".status.summary.saved",
    description: "GPU-hours saved against the full schedule by the folds that finished, and the percentage.",
  },
  {
    name: "Batch",
    type: "integer",
    jsonPath: ".status.calibration.batchSize",
    description: "Batch size in use.",
    priority: 1,
  },
  {
    name: "Best EMA Dice",
    type: "number",
    jsonPath: ".status.summary.bestEma",
    description: "Mean best EMA pseudo Dice of the folds.",
    priority: 1,
  },
  // A string: kubectl shows a future instant of type date as <invalid>.
  {
    name: "Finish",
    type: "string",
    jsonPath: ".status.summary.predictedFinishAt",
    description: "When the training folds are predicted to finish.",
  },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
] as const;

export function buildOpenApiSchema(): JSONSchemaProps {
  const root: JSONSchemaProps = {
    type: "object",
    description:
      "A TrainingRun trains an nnU-Net v2 model on GPU nodes: batch-size calibration, one Job per fold, early stop on convergence, validation.",
    properties: {
      apiVersion: {
        type: "string",
        description: "APIVersion defines the versioned schema of this representation of an object.",
      },
      kind: {
        type: "string",
        description: "Kind is a string value representing the REST resource this object represents.",
      },
      // Nothing but the type: kube-apiserver refuses a root metadata schema that says more
      // than name and generateName, a description included (kubernetes/kubernetes#100933).
      metadata: { type: "object" },
      spec: toStructural(TrainingRunSpec),
      status: toStructural(TrainingRunStatus),
    },
    required: ["spec"],
  };
  for (const rule of CROSS_FIELD_RULES) {
    const node = rule.at.length === 0 ? root : schemaAt(root, rule.at);
    if (!node) throw new Error(`rule ${rule.id} hangs on ${rule.at.join(".")}, which the schema does not have`);
    const entry: Record<string, string> = { rule: rule.cel, message: rule.message };
    // The API server resolves fieldPath against the schema, and metadata has no properties.
    if (rule.field && !rule.field.startsWith(".metadata")) entry.fieldPath = rule.field;
    if (rule.reason) entry.reason = rule.reason;
    (node["x-kubernetes-validations"] ??= []).push(entry as unknown as never);
  }
  return root;
}

export function buildTrainingRunCrd() {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: CRD_NAME,
      labels: { "app.kubernetes.io/name": "nnunet-operator", "app.kubernetes.io/component": "crd" },
    },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: LIST_KIND,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: [...SHORT_NAMES],
        categories: [...CATEGORIES],
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: buildOpenApiSchema() },
        },
      ],
    },
  };
}

export type CustomResourceDefinition = ReturnType<typeof buildTrainingRunCrd>;
export { API_VERSION };
