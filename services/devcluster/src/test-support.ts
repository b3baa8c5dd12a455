import { KubeConfig } from "@kubernetes/client-node";
import { resolve } from "node:path";
import { startDevCluster, type DevCluster, type DevClusterOptions } from "./server.js";

// Helpers for the conformance tests: a started devcluster, client-node configs for its
// admin and for bearer tokens, and the repository paths of the real CRD and fixtures.

export const repoRoot = resolve(import.meta.dirname, "../../..");
export const trainingRunCrd = resolve(repoRoot, "crds/trainingruns.nnunet-operator.io.yaml");
export const fixtures = resolve(repoRoot, "test/fixtures/trainingruns");

export function kubeConfigFor(dc: DevCluster, token = dc.adminToken): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: "devcluster",
        server: dc.url,
        skipTLSVerify: dc.caPem === undefined,
        ...(dc.caPem ? { caData: Buffer.from(dc.caPem).toString("base64") } : {}),
      },
    ],
    users: [{ name: "user", token }],
    contexts: [{ name: "devcluster", cluster: "devcluster", user: "user", namespace: "default" }],
    currentContext: "devcluster",
  });
  return kc;
}

export async function withDevCluster(options: DevClusterOptions = {}): Promise<{ dc: DevCluster; kc: KubeConfig }> {
  const dc = await startDevCluster({ manifests: [trainingRunCrd], ...options });
  return { dc, kc: kubeConfigFor(dc) };
}

/** The parsed metav1.Status of a failed client-node call. */
export function statusOf(error: unknown): {
  code: number;
  reason: string;
  message: string;
  details?: {
    name?: string;
    kind?: string;
    group?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
  };
} {
  const e = error as { code?: number; body?: unknown };
  if (typeof e.code !== "number") throw error;
  const body = typeof e.body === "string" ? (JSON.parse(e.body) as unknown) : e.body;
  return body as ReturnType<typeof statusOf>;
}

/** Waits until `check` holds, polling; fails with `what` after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
