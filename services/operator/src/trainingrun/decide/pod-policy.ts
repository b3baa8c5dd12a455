import type { FieldError, TrainingRun } from "@nnunet-operator/api";
import type { OperatorConfig } from "../../config.js";

// What a TrainingRun author may choose for the pods the operator builds: the image and the
// priority class come from allowlists in the operator's configuration. Named pure checks
// (cert-manager's style), used by the webhook and by admission, so a run the webhook did
// not see (webhook off, allowlist narrowed since) still gets no pod.

export interface PolicyCheck {
  readonly name: string;
  readonly check: (run: TrainingRun, config: OperatorConfig) => FieldError | undefined;
}

/** Whether `image` is the default training image or matches an allowlist entry. Pure. */
export function imageAllowed(image: string, config: OperatorConfig): boolean {
  if (image === config.images.training) return true;
  return config.policy.allowedImages.some((entry) =>
    entry.endsWith("*") ? image.startsWith(entry.slice(0, -1)) : image === entry,
  );
}

export const POD_POLICY_CHECKS: readonly PolicyCheck[] = [
  {
    name: "ImageNotAllowed",
    check: (run, config) =>
      run.spec.image === undefined || imageAllowed(run.spec.image, config)
        ? undefined
        : {
            field: "spec.image",
            message: `image ${run.spec.image} is not allowed by the operator's configuration (allowed: ${[config.images.training, ...config.policy.allowedImages].join(", ")}); remove spec.image or ask an administrator to add it to policy.allowedImages`,
          },
  },
  {
    name: "PriorityClassNotAllowed",
    check: (run, config) =>
      run.spec.priorityClassName === undefined ||
      config.policy.allowedPriorityClasses.includes(run.spec.priorityClassName)
        ? undefined
        : {
            field: "spec.priorityClassName",
            message: `priority class ${run.spec.priorityClassName} is not allowed by the operator's configuration (allowed: ${config.policy.allowedPriorityClasses.join(", ") || "none"}); remove spec.priorityClassName or use spec.priority to order runs in the queue`,
          },
  },
];

/** Every policy violation of the run, each naming its field and the fix. Pure. */
export function checkPodPolicy(run: TrainingRun, config: OperatorConfig): FieldError[] {
  return POD_POLICY_CHECKS.map((c) => c.check(run, config)).filter((e): e is FieldError => e !== undefined);
}
