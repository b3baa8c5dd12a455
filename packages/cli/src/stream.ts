import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { EpochMetrics } from "@nnunet-operator/api";
import { connectBus, replayEpochs } from "@nnunet-operator/bus";
import { isNotFound, type KubePort, type ResourceRef } from "@nnunet-operator/kube";
import { CliError, EXIT_FAILURE, NotFoundError, UsageError } from "./errors.js";

// Reading the epochs the reporters stored on JetStream (explain, curves export). The
// plugin talks to NATS directly: in a cluster, port-forward the chart's NATS service, or
// pass its URL. Once NATS runs with authentication the stream needs a credential: a .creds
// file (--creds) or one read from a Secret through the kubeconfig's access (--creds-secret
// [NAMESPACE/]NAME[:KEY], KEY defaulting to the chart's nats.creds), written to a private
// temporary file for the connection's lifetime and removed after.

export interface StreamAccess {
  /** NATS URL(s), comma-separated. */
  readonly natsUrl: string;
  readonly credsFile?: string | undefined;
  readonly credsSecret?: string | undefined;
}

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
export const DEFAULT_CREDS_KEY = "nats.creds";
const SECRETS: ResourceRef = { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true };

/** `[NAMESPACE/]NAME[:KEY]`. Pure. */
export function parseSecretRef(
  ref: string,
  defaultNamespace: string,
): { namespace: string; name: string; key: string } {
  const m = /^(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?)(?::([-._a-zA-Z0-9]+))?$/.exec(ref);
  if (!m)
    throw new UsageError(
      `--creds-secret ${ref} is not [NAMESPACE/]NAME[:KEY], e.g. nnunet-system/nats-creds:nats.creds`,
    );
  return { namespace: m[1] ?? defaultNamespace, name: m[3]!, key: m[5] ?? DEFAULT_CREDS_KEY };
}

/** Runs `use` with the path of a credentials file, if any; a Secret's is removed afterwards. */
async function withCreds<T>(
  access: StreamAccess,
  port: Pick<KubePort, "get">,
  namespace: string,
  use: (file: string | undefined) => Promise<T>,
): Promise<T> {
  if (access.credsFile !== undefined && access.credsSecret !== undefined)
    throw new UsageError("use either --creds FILE or --creds-secret NAME, not both");
  if (access.credsSecret === undefined) return use(access.credsFile);
  const ref = parseSecretRef(access.credsSecret, namespace);
  let secret: { data?: Record<string, string> };
  try {
    secret = (await port.get(SECRETS, { namespace: ref.namespace, name: ref.name })) as {
      data?: Record<string, string>;
    };
  } catch (err) {
    if (isNotFound(err))
      throw new NotFoundError(
        `Secret ${ref.namespace}/${ref.name} not found: name the Secret that holds the NATS credentials (the chart's nats.credsSecret)`,
        { cause: err },
      );
    throw err;
  }
  const data = secret.data?.[ref.key];
  if (data === undefined)
    throw new CliError(
      `Secret ${ref.namespace}/${ref.name} has no key ${ref.key}: add :KEY to --creds-secret (keys: ${Object.keys(secret.data ?? {}).join(", ") || "none"})`,
    );
  const dir = await mkdtemp(join(tmpdir(), "kubectl-nnunet-"));
  const file = join(dir, "nats.creds");
  try {
    await writeFile(file, Buffer.from(data, "base64"), { mode: 0o600 });
    return await use(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every stored epoch on subjects matching `filter`, in stream order. */
export async function readStoredEpochs(
  access: StreamAccess,
  port: Pick<KubePort, "get">,
  namespace: string,
  filter: string,
  signal: AbortSignal,
): Promise<EpochMetrics[]> {
  return withCreds(access, port, namespace, async (credsFile) => {
    let nc: Awaited<ReturnType<typeof connectBus>>;
    try {
      nc = await connectBus({
        servers: access.natsUrl.split(","),
        name: "kubectl-nnunet",
        credsFile,
        waitOnFirstConnect: false,
        signal,
      });
    } catch (err) {
      throw new CliError(
        `cannot reach NATS at ${access.natsUrl} (${(err as Error).message}): port-forward the chart's NATS service (kubectl -n nnunet-system port-forward svc/nnunet-operator-nats 4222) or pass --nats URL, and --creds or --creds-secret when it needs a credential`,
        EXIT_FAILURE,
        { cause: err },
      );
    }
    try {
      const out: EpochMetrics[] = [];
      await replayEpochs(jetstream(nc), filter, (m) => void out.push(m), { signal });
      return out;
    } catch (err) {
      if (/stream not found/i.test((err as Error).message)) return [];
      throw new CliError(`reading the epoch stream failed: ${(err as Error).message}`, EXIT_FAILURE, { cause: err });
    } finally {
      await nc.close().catch(() => undefined);
    }
  });
}
