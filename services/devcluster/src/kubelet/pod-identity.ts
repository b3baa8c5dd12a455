import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { KubeObject } from "../api/resources.js";
import type { MountEntry } from "./paths.js";

// What a real kubelet gives every pod to reach the API server: the ServiceAccount's token,
// the cluster CA and the namespace in /var/run/secrets/kubernetes.io/serviceaccount (here a
// folder of the pod, mounted through the path table and the pod shim), unless
// automountServiceAccountToken is false on the pod or its ServiceAccount; and
// KUBERNETES_SERVICE_HOST/PORT naming the API server. client-node's in-cluster
// configuration reads exactly these.

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface ApiServer {
  host: string;
  port: number;
  caPem: string | undefined;
}

export function wantsToken(pod: KubeObject, serviceAccount: KubeObject | undefined): boolean {
  const own = (pod["spec"] as { automountServiceAccountToken?: boolean }).automountServiceAccountToken;
  if (own !== undefined) return own;
  return (
    (serviceAccount as { automountServiceAccountToken?: boolean } | undefined)?.automountServiceAccountToken !== false
  );
}

/** Writes token, ca.crt and namespace into the pod's folder; returns the mount for every container. */
export function writeServiceAccountFiles(
  podFolder: string,
  namespace: string,
  token: string,
  api: ApiServer | undefined,
): MountEntry {
  const dir = join(podFolder, "serviceaccount");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "token"), token, { mode: 0o600 });
  writeFileSync(join(dir, "namespace"), namespace);
  writeFileSync(join(dir, "ca.crt"), api?.caPem ?? "");
  return { containerPath: SERVICE_ACCOUNT_DIR, hostPath: dir };
}

export function apiServerEnv(api: ApiServer | undefined): Record<string, string> {
  if (!api) return {};
  return {
    KUBERNETES_SERVICE_HOST: api.host,
    KUBERNETES_SERVICE_PORT: String(api.port),
    KUBERNETES_SERVICE_PORT_HTTPS: String(api.port),
    KUBERNETES_PORT: `tcp://${api.host}:${api.port}`,
  };
}
