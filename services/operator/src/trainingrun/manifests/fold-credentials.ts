import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { ISecret } from "kubernetes-models/v1/Secret";
import { ANNOTATION_ATTEMPT, LABEL_FOLD, LABEL_ROLE } from "@nnunet-operator/api";

// A fold attempt's NATS credential lives in a Secret of the run's namespace, owned by the
// run (garbage-collected with it), mounted into that attempt's reporter sidecar only. One
// Secret per attempt, so a new attempt never has to rewrite a Secret an old pod may still
// have mounted, and the server's connz names the attempt that connected.

export const FOLD_CREDS_KEY = "nats.creds";
/** The CA the reporter verifies NATS's certificate with, when NATS speaks TLS. */
export const FOLD_CA_KEY = "ca.crt";

export function foldCredsSecretName(run: string, fold: string, attempt: number): string {
  return `${run}-fold-${fold}-nats-${attempt}`;
}

/** The Secret holding `creds` for the fold attempt `job` trains, with the Job's labels and owner (the run). Pure. */
export function buildFoldCredsSecret(job: IJob, creds: string, caPem?: string): ISecret {
  const attempt = foldAttemptOf(job);
  if (!attempt) throw new Error(`Job ${job.metadata?.name} is not a fold's training Job`);
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: foldCredsSecretName(attempt.run, attempt.fold, attempt.attempt),
      namespace: attempt.namespace,
      labels: { ...job.metadata?.labels },
      annotations: { [ANNOTATION_ATTEMPT]: String(attempt.attempt) },
      ownerReferences: [...(job.metadata?.ownerReferences ?? [])],
    },
    type: "Opaque",
    immutable: true,
    stringData: { [FOLD_CREDS_KEY]: creds, ...(caPem !== undefined ? { [FOLD_CA_KEY]: caPem } : {}) },
  };
}

/** Which fold attempt a training Job is for, read back from the Job the builder made; undefined for other Jobs. Pure. */
export function foldAttemptOf(
  job: IJob,
): { namespace: string; run: string; fold: string; attempt: number } | undefined {
  const labels = job.metadata?.labels ?? {};
  const attempt = Number(job.metadata?.annotations?.[ANNOTATION_ATTEMPT]);
  const run = job.metadata?.ownerReferences?.find((o) => o.controller)?.name;
  if (
    labels[LABEL_ROLE] !== "train" ||
    labels[LABEL_FOLD] === undefined ||
    run === undefined ||
    !Number.isInteger(attempt)
  )
    return undefined;
  return { namespace: job.metadata?.namespace ?? "default", run, fold: labels[LABEL_FOLD], attempt };
}
