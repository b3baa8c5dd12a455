import {
  type FieldError,
  formatFieldErrors,
  GROUP,
  KIND,
  MAX_RUN_NAME_LENGTH,
  parseTrainingRun,
  STOCK_TRAINER,
  type TrainingRun,
} from "@nnunet-operator/api";
import type { OperatorConfig } from "../config.js";
import { checkPodPolicy } from "../trainingrun/decide/pod-policy.js";
import {
  type AdmissionResponse,
  AdmissionReview,
  type AdmissionReviewResponse,
  BadAdmissionReviewError,
} from "./admission-review.js";

// The validating webhook for TrainingRuns: the same zod schema and cross-field rules the
// operator parses with, so a run the webhook lets in is a run the reconciler can read.
// Pure: an AdmissionReview in, an AdmissionReview out.

export interface ValidateOptions {
  /** Queues the operator's configuration defines; an unknown queue is allowed with a warning. */
  readonly queues?: readonly string[];
  /** The operator's configuration: images and priority classes a run may choose. */
  readonly config?: OperatorConfig;
}

/** The API server appends five random characters to generateName. */
const GENERATED_SUFFIX = 5;

function respond(uid: string, response: Omit<AdmissionResponse, "uid">): AdmissionReviewResponse {
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid, ...response } };
}

function deny(uid: string, name: string | undefined, errors: readonly FieldError[]): AdmissionReviewResponse {
  return respond(uid, {
    allowed: false,
    status: {
      status: "Failure",
      code: 422,
      reason: "Invalid",
      message: `${KIND}.${GROUP} "${name ?? ""}" is invalid: ${formatFieldErrors(errors)}`,
      details: {
        ...(name ? { name } : {}),
        group: GROUP,
        kind: "trainingruns",
        causes: errors.map((e) => ({ type: "FieldValueInvalid", message: e.message, field: e.field })),
      },
    },
  });
}

function meta(object: unknown): { name?: string; generateName?: string; deletionTimestamp?: string } {
  const m = (object as { metadata?: Record<string, unknown> } | null)?.metadata;
  return {
    ...(typeof m?.name === "string" ? { name: m.name } : {}),
    ...(typeof m?.generateName === "string" ? { generateName: m.generateName } : {}),
    ...(typeof m?.deletionTimestamp === "string" ? { deletionTimestamp: m.deletionTimestamp } : {}),
  };
}

export function warningsFor(run: TrainingRun, options: ValidateOptions): string[] {
  const out: string[] = [];
  if (options.queues && !options.queues.includes(run.spec.queue)) {
    out.push(
      `spec.queue: queue ${run.spec.queue} is not defined in the operator configuration (defined: ${options.queues.join(", ")}); the run will wait until it is`,
    );
  }
  if (
    run.spec.trainer !== STOCK_TRAINER &&
    run.spec.schedule.keepSamplesConstant &&
    run.spec.batchSize.mode !== "Plans"
  ) {
    out.push(
      `spec.trainer: ${run.spec.trainer} is not the stock ${STOCK_TRAINER}, so keepSamplesConstant cannot shorten its schedule`,
    );
  }
  if (
    run.spec.batchSize.mode === "Fixed" &&
    run.spec.batchSize.value !== undefined &&
    run.spec.batchSize.value > run.spec.batchSize.maxBatchSize
  ) {
    out.push(
      `spec.batchSize.value: ${run.spec.batchSize.value} is above maxBatchSize ${run.spec.batchSize.maxBatchSize}, which applies to calibration only`,
    );
  }
  return out;
}

/** Validates one AdmissionReview. Throws BadAdmissionReviewError only for a body that is not one. */
export function validateTrainingRunReview(body: unknown, options: ValidateOptions = {}): AdmissionReviewResponse {
  const parsed = AdmissionReview.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BadAdmissionReviewError(
      `not an admission.k8s.io/v1 AdmissionReview: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`,
      { cause: parsed.error },
    );
  }
  const req = parsed.data.request;
  if (req.operation === "DELETE" || req.operation === "CONNECT" || req.subResource)
    return respond(req.uid, { allowed: true });
  if (req.kind.kind !== KIND || req.kind.group !== GROUP) {
    return deny(req.uid, req.name, [
      {
        field: "kind",
        message: `this webhook validates ${KIND}.${GROUP} only, not ${req.kind.kind}.${req.kind.group}; fix the webhook's rules`,
      },
    ]);
  }

  const { name, generateName, deletionTimestamp } = meta(req.object);
  // A run on its way out only loses its finalizer; blocking that would strand it.
  if (req.operation === "UPDATE" && deletionTimestamp) return respond(req.uid, { allowed: true });

  const old = req.operation === "UPDATE" && req.oldObject ? (req.oldObject as TrainingRun) : undefined;
  const result = parseTrainingRun(req.object, old);
  const errors: FieldError[] = result.ok ? [] : [...result.errors];
  if (
    name === undefined &&
    generateName !== undefined &&
    generateName.length + GENERATED_SUFFIX > MAX_RUN_NAME_LENGTH
  ) {
    errors.push({
      field: "metadata.generateName",
      message: `metadata.generateName must be at most ${MAX_RUN_NAME_LENGTH - GENERATED_SUFFIX} characters: the API server adds ${GENERATED_SUFFIX} and a run name may have at most ${MAX_RUN_NAME_LENGTH}`,
    });
  }
  if (result.ok && options.config) errors.push(...checkPodPolicy(result.run, options.config));
  if (errors.length > 0 || !result.ok) return deny(req.uid, name ?? req.name, errors);
  const warnings = warningsFor(result.run, options);
  return respond(req.uid, { allowed: true, ...(warnings.length > 0 ? { warnings } : {}) });
}
