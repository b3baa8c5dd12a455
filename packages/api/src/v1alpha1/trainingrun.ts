import { z } from "zod";
import { API_VERSION, KIND } from "./group.js";
import { CROSS_FIELD_RULES, ruleFieldPath } from "./rules.js";
import { TrainingRunSpec } from "./spec.js";
import { TrainingRunStatus } from "./status.js";

// The TrainingRun object: the source of truth for the CRD (scripts/gen-crd.ts), the
// webhook and every service that reads a run.

/** The parts of ObjectMeta the operator reads; everything else passes through untouched. */
export const ObjectMeta = z
  .looseObject({
    name: z.string().min(1).max(253).optional(),
    generateName: z.string().optional(),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    generation: z.int().optional(),
    creationTimestamp: z.string().optional(),
    deletionTimestamp: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    finalizers: z.array(z.string()).optional(),
  })
  .meta({ description: "Standard object metadata." });

export const TrainingRun = z
  .object({
    apiVersion: z.literal(API_VERSION).meta({ description: "APIVersion of this object." }),
    kind: z.literal(KIND).meta({ description: "Kind of this object." }),
    metadata: ObjectMeta,
    spec: TrainingRunSpec,
    status: TrainingRunStatus.optional(),
  })
  .strict()
  .superRefine((run, ctx) => {
    for (const rule of CROSS_FIELD_RULES) {
      if (rule.transition) continue;
      // biome-ignore lint/suspicious/noExplicitAny: walking an arbitrary JSON path
      const node = rule.at.reduce<any>((n, key) => n?.[key], run);
      if (!rule.holds(node)) {
        ctx.addIssue({
          code: "custom",
          message: rule.message,
          path: ruleFieldPath(rule).split("."),
        });
      }
    }
  })
  .meta({
    description: "A TrainingRun trains an nnU-Net v2 model: calibration, one Job per fold, early stop, validation.",
  });

export type TrainingRun = z.infer<typeof TrainingRun>;
export type TrainingRunInput = z.input<typeof TrainingRun>;

export interface FieldError {
  /** Dotted path such as `spec.batchSize.value`. */
  readonly field: string;
  readonly message: string;
}

/** Issues of a zod error as field paths plus messages, the form the webhook answers with. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.flatMap((issue) => {
    const field = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({
        field: field ? `${field}.${key}` : key,
        message: `unknown field "${key}": remove it or check its spelling against kubectl explain trainingrun`,
      }));
    }
    return [{ field: field || "(root)", message: issue.message }];
  });
}

export type ParseResult = { ok: true; run: TrainingRun } | { ok: false; errors: FieldError[] };

/**
 * Parses and defaults a TrainingRun; on update (`old` given) also checks the transition
 * rules such as the immutable dataset. Never throws.
 */
export function parseTrainingRun(input: unknown, old?: TrainingRun): ParseResult {
  const parsed = TrainingRun.safeParse(input);
  if (!parsed.success) return { ok: false, errors: fieldErrors(parsed.error) };
  if (old) {
    const errors: FieldError[] = [];
    for (const rule of CROSS_FIELD_RULES) {
      if (!rule.transition) continue;
      // biome-ignore lint/suspicious/noExplicitAny: walking an arbitrary JSON path
      const pick = (o: unknown) => rule.at.reduce<any>((n, key) => n?.[key], o);
      if (!rule.holds(pick(parsed.data), pick(old))) errors.push({ field: ruleFieldPath(rule), message: rule.message });
    }
    if (errors.length > 0) return { ok: false, errors };
  }
  return { ok: true, run: parsed.data };
}

export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.field}: ${e.message}`).join("; ");
}
