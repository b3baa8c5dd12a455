import type { ISecret } from "kubernetes-models/v1/Secret";
import { generateNatsAuth, type NatsAuthMaterial, serverAuthConfig } from "@nnunet-operator/bus";
import { isAlreadyExists, type KubeObject, type KubePort, Resources } from "@nnunet-operator/kube";

// The installation's NATS auth material as one Secret in the release namespace. Helm cannot
// make it: nkeys are ed25519 keys in NATS's own encoding and the JWTs must be signed with
// them, which template functions cannot do. So a pre-install/pre-upgrade hook Job runs the
// operator image once (`nats-bootstrap`), and `scripts/nats-auth.ts` prints the same Secret
// for GitOps (nats.auth.existingSecret). Each pod mounts only its keys (chart helpers).

// export.creds is mounted by no pod: a platform team reads it for kubectl nnunet curves export
// (--creds-secret <release namespace>/<secret>:export.creds).
export const NATS_AUTH_KEYS = [
  "auth.conf",
  "operator.creds",
  "early-stop.creds",
  "export.creds",
  "account-signing.nk",
  "account.pub",
] as const;

/** The Secret for `material`. Pure. */
export function buildNatsAuthSecret(namespace: string, name: string, material: NatsAuthMaterial): ISecret {
  const data: Record<(typeof NATS_AUTH_KEYS)[number], string> = {
    "auth.conf": serverAuthConfig(material),
    "operator.creds": material.operatorCreds,
    "early-stop.creds": material.earlyStopCreds,
    "export.creds": material.exportCreds,
    "account-signing.nk": `${material.accountSigningSeed}\n`,
    "account.pub": `${material.accountPublicKey}\n`,
  };
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name,
      namespace,
      labels: { "app.kubernetes.io/part-of": "nnunet-operator", "app.kubernetes.io/component": "nats-auth" },
    },
    type: "Opaque",
    stringData: data,
  };
}

/**
 * Creates the Secret with fresh material unless it exists. An existing one is kept as it
 * is: new keys would invalidate every running fold's credential. Returns what happened.
 */
export async function ensureNatsAuthSecret(
  port: Pick<KubePort, "create">,
  namespace: string,
  name: string,
): Promise<"created" | "kept"> {
  try {
    await port.create(Resources.secrets, buildNatsAuthSecret(namespace, name, await generateNatsAuth()) as KubeObject);
    return "created";
  } catch (err) {
    if (isAlreadyExists(err)) return "kept";
    throw err;
  }
}
