import { MAX_RUN_NAME_LENGTH } from "./group.js";

// Cross-field rules, written once: each has a CEL form (x-kubernetes-validations in the
// CRD, evaluated by the API server) and a TypeScript form (the zod schema and the webhook).
// `at` is the node the rule hangs on, as a path of property names from the object root;
// `field` is the field it reports, relative to that node (the CRD's fieldPath).

export interface CrossFieldRule {
  readonly id: string;
  readonly at: readonly string[];
  readonly cel: string;
  readonly message: string;
  readonly field?: string;
  readonly reason?: "FieldValueRequired" | "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueDuplicate";
  /** Transition rules compare with the stored object and run only on update. */
  readonly transition?: boolean;
  /** The TypeScript form: true when the node satisfies the rule (old is the stored node). */
  // biome-ignore lint/suspicious/noExplicitAny: a rule reads the untyped JSON node at its path
  readonly holds: (node: any, old?: any) => boolean;
}

export const CROSS_FIELD_RULES: readonly CrossFieldRule[] = [
  {
    id: "fixed-batch-size-needs-value",
    at: ["spec", "batchSize"],
    cel: "self.mode != 'Fixed' || has(self.value)",
    message: "spec.batchSize.value is required when spec.batchSize.mode is Fixed; set a value or use mode Auto",
    field: ".value",
    reason: "FieldValueRequired",
    holds: (b) => b?.mode !== "Fixed" || b?.value !== undefined,
  },
  {
    id: "unique-folds",
    at: ["spec", "folds"],
    cel: "self.all(f, self.filter(g, g == f).size() == 1)",
    message: "spec.folds must not list a fold twice; list each of 0-4 or all at most once",
    // Not FieldValueDuplicate: the API server drops a rule's message for that reason.
    holds: (folds) => !Array.isArray(folds) || new Set(folds.map(String)).size === folds.length,
  },
  {
    id: "min-epochs-below-max",
    at: ["spec", "schedule"],
    cel: "self.earlyStop.minEpochs < self.maxEpochs",
    message:
      "spec.schedule.earlyStop.minEpochs must be lower than spec.schedule.maxEpochs; lower minEpochs or raise maxEpochs",
    field: ".earlyStop.minEpochs",
    reason: "FieldValueInvalid",
    holds: (s) => !(s?.earlyStop?.minEpochs >= s?.maxEpochs),
  },
  {
    id: "dataset-immutable",
    at: ["spec", "dataset"],
    cel: "self == oldSelf",
    message: "spec.dataset is immutable after creation; create a new TrainingRun for another dataset",
    transition: true,
    holds: (d, old) => old === undefined || d === old,
  },
  {
    id: "configuration-immutable",
    at: ["spec", "configuration"],
    cel: "self == oldSelf",
    message: "spec.configuration is immutable after creation; create a new TrainingRun for another configuration",
    transition: true,
    holds: (c, old) => old === undefined || c === old,
  },
  // What decides where and what a fold trains (issue 17: a claim, trainer and plans changed
  // mid-run sent the remaining validations to other folders). Fixed from creation on.
  immutable("storage-claim-immutable", ["spec", "storage", "claimName"], "spec.storage.claimName", "another claim"),
  immutable("trainer-immutable", ["spec", "trainer"], "spec.trainer", "another trainer"),
  immutable("plans-immutable", ["spec", "plans"], "spec.plans", "other plans"),
  immutable("gpus-per-fold-immutable", ["spec", "gpu", "perFold"], "spec.gpu.perFold", "another GPU count"),
  immutable("folds-immutable", ["spec", "folds"], "spec.folds", "other folds"),
  {
    // Optional: the rule hangs on spec so that setting or removing it counts as a change.
    id: "image-immutable",
    at: ["spec"],
    cel: "has(self.image) == has(oldSelf.image) && (!has(self.image) || self.image == oldSelf.image)",
    message: "spec.image is immutable after creation; create a new TrainingRun to train with another image",
    field: ".image",
    transition: true,
    holds: (spec, old) => old === undefined || spec?.image === old?.image,
  },
  {
    id: "run-name-length",
    at: [],
    cel: `size(self.metadata.name) <= ${MAX_RUN_NAME_LENGTH}`,
    message: `metadata.name must be at most ${MAX_RUN_NAME_LENGTH} characters so that child names such as <name>-validate-all and their pods stay valid; choose a shorter name`,
    field: ".metadata.name",
    reason: "FieldValueInvalid",
    holds: (o) => typeof o?.metadata?.name !== "string" || o.metadata.name.length <= MAX_RUN_NAME_LENGTH,
  },
  {
    // The run name is a NATS subject token and a label value, where a dot would split it.
    id: "run-name-dns-label",
    at: [],
    cel: "self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
    message:
      "metadata.name must be a DNS label (lower-case letters, digits and '-', no dots) because it names NATS subjects and labels; choose a name without dots",
    field: ".metadata.name",
    reason: "FieldValueInvalid",
    holds: (o) => typeof o?.metadata?.name !== "string" || /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(o.metadata.name),
  },
];

function immutable(id: string, at: readonly string[], field: string, what: string): CrossFieldRule {
  return {
    id,
    at,
    cel: "self == oldSelf",
    message: `${field} is immutable after creation; create a new TrainingRun to train with ${what}`,
    transition: true,
    holds: (value, old) => old === undefined || JSON.stringify(value) === JSON.stringify(old),
  };
}

/** The k8s-style path of a rule's field, such as `spec.batchSize.value`. */
export function ruleFieldPath(rule: CrossFieldRule): string {
  const base = rule.at.join(".");
  const field = rule.field ?? "";
  return `${base}${field}`.replace(/^\./, "");
}
