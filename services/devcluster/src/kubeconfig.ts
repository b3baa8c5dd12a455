import { stringify } from "yaml";

// A kubeconfig for the devcluster: one cluster, one admin user with a bearer token, and
// optionally further users (service-account tokens) as extra contexts.

export function buildKubeconfig(
  url: string,
  adminToken: string,
  users: Record<string, string> = {},
  caPem?: string,
): string {
  const contexts = [{ name: "devcluster", context: { cluster: "devcluster", user: "admin", namespace: "default" } }];
  const userEntries = [{ name: "admin", user: { token: adminToken } }];
  for (const [name, token] of Object.entries(users)) {
    userEntries.push({ name, user: { token } });
    contexts.push({ name, context: { cluster: "devcluster", user: name, namespace: "default" } });
  }
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "devcluster",
        cluster: {
          server: url,
          ...(caPem
            ? { "certificate-authority-data": Buffer.from(caPem).toString("base64") }
            : { "insecure-skip-tls-verify": true }),
        },
      },
    ],
    users: userEntries,
    contexts,
    "current-context": "devcluster",
    preferences: {},
  });
}
