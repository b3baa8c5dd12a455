import type { IJob } from "kubernetes-models/batch/v1/Job";
import { mintFoldCreds } from "@nnunet-operator/bus";
import { isAlreadyExists, type KubeObject, type KubePort, Resources } from "@nnunet-operator/kube";
import { buildFoldCredsSecret, foldAttemptOf } from "./manifests/fold-credentials.js";

// Mints a fold attempt's NATS credential and stores it before the attempt's Job is created
// (the Job's pod mounts it by name). An existing Secret is success: the names are
// deterministic and a Secret is immutable, so a retry or a second replica changes nothing.
// The operator may create Secrets but not read them (RBAC): it never needs to.

export interface FoldSigning {
  accountSigningSeed: string;
  accountPublicKey: string;
  /** Copied into each fold's Secret when NATS speaks TLS. */
  caPem?: string | undefined;
}

export function foldCredentialIssuer(
  port: Pick<KubePort, "create">,
  signing: FoldSigning,
): (jobs: readonly IJob[]) => Promise<void> {
  return async (jobs) => {
    await Promise.all(
      jobs.map(async (job) => {
        const attempt = foldAttemptOf(job);
        if (!attempt) return;
        const secret = buildFoldCredsSecret(job, await mintFoldCreds(signing, attempt), signing.caPem);
        try {
          await port.create(Resources.secrets, secret as KubeObject);
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
        }
      }),
    );
  };
}
