import { z } from "zod";

// admission.k8s.io/v1 AdmissionReview, as much of it as a validating webhook reads and
// writes. Unknown fields pass through: the API server may send more than we know.

const GroupVersionKind = z.object({ group: z.string(), version: z.string(), kind: z.string() });
const GroupVersionResource = z.object({ group: z.string(), version: z.string(), resource: z.string() });

export const AdmissionRequest = z.looseObject({
  uid: z.string().min(1),
  kind: GroupVersionKind,
  resource: GroupVersionResource,
  subResource: z.string().optional(),
  requestKind: GroupVersionKind.optional(),
  requestResource: GroupVersionResource.optional(),
  requestSubResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(["CREATE", "UPDATE", "DELETE", "CONNECT"]),
  userInfo: z.looseObject({ username: z.string().optional() }).optional(),
  object: z.unknown().optional(),
  oldObject: z.unknown().optional(),
  dryRun: z.boolean().optional(),
  options: z.unknown().optional(),
});
export type AdmissionRequest = z.infer<typeof AdmissionRequest>;

export const AdmissionReview = z.looseObject({
  apiVersion: z.literal("admission.k8s.io/v1"),
  kind: z.literal("AdmissionReview"),
  request: AdmissionRequest,
});
export type AdmissionReview = z.infer<typeof AdmissionReview>;

export const StatusCause = z.object({ type: z.string(), message: z.string(), field: z.string() });

export const AdmissionResponse = z.object({
  uid: z.string(),
  allowed: z.boolean(),
  status: z
    .object({
      status: z.literal("Failure"),
      code: z.int(),
      reason: z.string(),
      message: z.string(),
      details: z
        .object({ name: z.string().optional(), group: z.string(), kind: z.string(), causes: z.array(StatusCause) })
        .optional(),
    })
    .optional(),
  warnings: z.array(z.string()).optional(),
});
export type AdmissionResponse = z.infer<typeof AdmissionResponse>;

export const AdmissionReviewResponse = z.object({
  apiVersion: z.literal("admission.k8s.io/v1"),
  kind: z.literal("AdmissionReview"),
  response: AdmissionResponse,
});
export type AdmissionReviewResponse = z.infer<typeof AdmissionReviewResponse>;

/** A body that is not an AdmissionReview: the server answers 400 and the API server fails the call. */
export class BadAdmissionReviewError extends Error {
  override readonly name = "BadAdmissionReviewError";
  readonly code = "BAD_ADMISSION_REVIEW";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
