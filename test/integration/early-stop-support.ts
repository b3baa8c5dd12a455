import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { assertNoUnexpectedFailures, startDevCluster } from "@nnunet-operator/devcluster";
import { startFakeApiServer } from "@nnunet-operator/early-stop/testing";
import { ClientPort, type KubePort, Resources } from "@nnunet-operator/kube";
import { FakeKubePort } from "@nnunet-operator/kube/testing";

// The Kubernetes APIs the early-stop integration tests run against: the devcluster with
// RBAC on, the controller authenticated as the chart's early-stop ServiceAccount with the
// chart's (rendered) roles; and packages/kube's FakeKubePort behind an HTTP front.

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface ApiBackend {
  readonly name: string;
  /** Setup and checks, with full rights. */
  readonly admin: KubePort;
  /** What the controller connects with. */
  controllerKubeConfig(): KubeConfig;
  close(): Promise<void>;
}

export async function fakeApiBackend(): Promise<ApiBackend> {
  const kube = new FakeKubePort();
  const api = await startFakeApiServer(kube);
  return {
    name: "an HTTP fake of the API",
    admin: kube,
    controllerKubeConfig: () => api.kubeConfig(),
    close: () => api.close(),
  };
}

const EARLY_STOP_MANIFESTS = [
  "crds/trainingruns.nnunet-operator.io.yaml",
  "deploy/manifests/namespace-nnunet-system.yaml",
  "deploy/manifests/serviceaccount-nnunet-operator-early-stop.yaml",
  "deploy/manifests/clusterrole-nnunet-operator-early-stop.yaml",
  "deploy/manifests/clusterrolebinding-nnunet-operator-early-stop.yaml",
  "deploy/manifests/role-nnunet-operator-early-stop-leader-election.yaml",
  "deploy/manifests/rolebinding-nnunet-operator-early-stop-leader-election.yaml",
];

export async function devclusterBackend(namespaces: string[]): Promise<ApiBackend> {
  const dc = await startDevCluster({ rbac: true, manifests: EARLY_STOP_MANIFESTS.map((f) => join(ROOT, f)) });
  const adminConfig = new KubeConfig();
  adminConfig.loadFromFile(dc.kubeconfigPath);
  const admin = new ClientPort(adminConfig, { fieldManager: "test" });
  for (const name of namespaces)
    await admin.create(Resources.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  return {
    name: "the devcluster as the chart's early-stop ServiceAccount",
    admin,
    controllerKubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [
          {
            name: "devcluster",
            server: dc.url,
            ...(dc.caPem !== undefined && { caData: Buffer.from(dc.caPem).toString("base64") }),
          },
        ],
        users: [{ name: "early-stop", token: dc.serviceAccountToken("nnunet-system", "nnunet-operator-early-stop") }],
        contexts: [{ name: "devcluster", cluster: "devcluster", user: "early-stop" }],
        currentContext: "devcluster",
      });
      return kc;
    },
    close: async () => {
      await dc.stop();
      assertNoUnexpectedFailures(dc);
    },
  };
}
