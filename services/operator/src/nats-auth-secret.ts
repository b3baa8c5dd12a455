import type { ISecret } from "kubernetes-models/v1/Secret";
import {
  generateNatsAuth,
  type NatsAuthMaterial,
  SERVICE_USERS,
  type ServiceUser,
  serverAuthConfig,
  staleServiceCreds,
} from "@nnunet-operator/bus";
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
 * Creates the Secret with fresh material unless it exists. An existing one keeps its keys
 * (new ones would invalidate every running fold's credential); only the services'
 * credentials that are not what this version mints (missing, or with other permissions, as
 * after an upgrade that narrowed a service's rights) are minted again with the existing
 * account signing key, guarded by the Secret's resourceVersion. The services read their
 * credential when they connect: the new one takes effect as their pods restart, which an
 * upgrade to a new image does. Returns what happened.
 */
export async function ensureNatsAuthSecret(
  port: Pick<KubePort, "create" | "get" | "patch">,
  namespace: string,
  name: string,
): Promise<{ outcome: "created" | "kept" } | { outcome: "updated"; users: ServiceUser[] }> {
  try {
    await port.create(Resources.secrets, buildNatsAuthSecret(namespace, name, await generateNatsAuth()) as KubeObject);
    return { outcome: "created" };
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
  const existing = await port.get<KubeObject>(Resources.secrets, { namespace, name });
  const data = (existing["data"] ?? {}) as Record<string, string>;
  const text = (key: string): string | undefined =>
    data[key] === undefined ? undefined : Buffer.from(data[key], "base64").toString("utf8");
  const seed = text("account-signing.nk")?.trim();
  const account = text("account.pub")?.trim();
  if (!seed || !account)
    throw new NatsAuthSecretError(
      `Secret ${namespace}/${name} lacks account-signing.nk or account.pub: it is not this chart's NATS auth Secret; delete it to generate a new one (every running fold then needs a restart)`,
    );
  const stale = await staleServiceCreds(
    { accountSigningSeed: seed, accountPublicKey: account },
    Object.fromEntries(Object.keys(SERVICE_USERS).map((u) => [u, text(credsKey(u as ServiceUser))])),
  );
  const users = Object.keys(stale) as ServiceUser[];
  if (users.length === 0) return { outcome: "kept" };
  await port.patch(
    Resources.secrets,
    { namespace, name },
    {
      metadata: { resourceVersion: existing.metadata.resourceVersion },
      data: Object.fromEntries(users.map((u) => [credsKey(u), Buffer.from(stale[u]!).toString("base64")])),
    },
    { type: "merge" },
  );
  return { outcome: "updated", users };
}

/** The Secret of the auth material's name is not one this chart made; terminal, the hook Job fails with it. */
export class NatsAuthSecretError extends Error {
  override readonly name = "NatsAuthSecretError";
}

const credsKey = (user: ServiceUser) => `${user}.creds` as const;
