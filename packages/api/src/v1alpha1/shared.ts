import { z } from "zod";

// Building blocks shared by the TrainingRun spec and status. The `x-kubernetes-*` keys in
// `.meta()` travel unchanged into the generated openAPIV3Schema.

/** The pattern Kubernetes itself uses for resource.Quantity (what controller-gen emits). */
export const QUANTITY_PATTERN =
  "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$";
const quantityRegex = new RegExp(QUANTITY_PATTERN);

/** A Kubernetes quantity: an integer or a string such as `64Gi`, `500m`, `8`. */
export function quantity(description: string) {
  return z
    .union([
      z.int().nonnegative(),
      z.string().regex(quantityRegex, { error: "must be a Kubernetes quantity such as 64Gi, 500m or 8" }),
    ])
    .meta({ description, pattern: QUANTITY_PATTERN, "x-kubernetes-int-or-string": true });
}

/**
 * QUANTITY_PATTERN without a sign and with at least one non-zero digit in the number: what
 * a request must be (issue 17: "-8" CPUs and "-1Gi" of /dev/shm passed). A pattern rather
 * than a CEL rule, so that every API server version checks it.
 */
export const POSITIVE_QUANTITY_PATTERN =
  "^\\+?(([0-9]*[1-9][0-9]*(\\.[0-9]*)?)|([0-9]+\\.[0-9]*[1-9][0-9]*)|(\\.[0-9]*[1-9][0-9]*))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$";
const positiveQuantityRegex = new RegExp(POSITIVE_QUANTITY_PATTERN);

/** A Kubernetes quantity greater than zero: a positive integer or a string such as `64Gi` or `500m`. */
export function positiveQuantity(description: string) {
  return z
    .union([
      z.int().min(1, { error: "must be greater than zero" }),
      z.string().regex(positiveQuantityRegex, {
        error: "must be a Kubernetes quantity greater than zero, such as 64Gi, 500m or 8",
      }),
    ])
    .meta({ description, pattern: POSITIVE_QUANTITY_PATTERN, minimum: 1, "x-kubernetes-int-or-string": true });
}

/** A DNS-1123 label (names of PVCs, queues, priority classes). */
export const DNS_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
export function dnsLabel(description: string) {
  return z
    .string()
    .min(1)
    .max(63)
    .regex(new RegExp(DNS_LABEL_PATTERN), {
      error: "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit",
    })
    .meta({ description });
}

/** A DNS-1123 subdomain (names of PVCs, priority classes, label-free object names). */
export const DNS_SUBDOMAIN_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
export function dnsSubdomain(description: string) {
  return z
    .string()
    .min(1)
    .max(253)
    .regex(new RegExp(DNS_SUBDOMAIN_PATTERN), {
      error: "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.'",
    })
    .meta({ description });
}

/** An RFC 3339 timestamp as Kubernetes writes them. */
export function timestamp(description: string) {
  return z.iso.datetime({ offset: true }).meta({ description });
}

/** Folds as nnU-Net names them: 0 to 4 for the five-fold split, or `all` (train on every case). */
export const FOLD_VALUES = [0, 1, 2, 3, 4, "all"] as const;
export const FoldId = z.union([z.int().min(0).max(4), z.literal("all")]).meta({
  description: 'An nnU-Net fold: 0 to 4 for the five-fold cross-validation split, or "all" to train on every case.',
  enum: [...FOLD_VALUES],
  "x-kubernetes-int-or-string": true,
});
export type FoldId = z.infer<typeof FoldId>;

/** The key a fold has in status and in child names: `0`..`4` or `all`. */
export function foldKey(fold: FoldId): string {
  return String(fold);
}
