import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { generateNatsAuth, serverAuthConfig } from "@nnunet-operator/bus";
import { parseOperatorConfig } from "@nnunet-operator/operator/runtime";
import { find, type K8sObject, renderChart } from "../chart/render.js";

// How the rendered objects refer to each other and to the services' contracts: the
// operator's config file and environment, the webhook and its TLS, NATS.

type Env = { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } };
type Container = {
  name: string;
  env?: Env[];
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string }[];
};
type Probe = { httpGet?: { path: string; port: string | number } };
type Volume = { name: string; configMap?: { name: string }; secret?: { secretName: string } };
type Workload = K8sObject & {
  spec: {
    replicas: number;
    template: { spec: { serviceAccountName: string; containers: Container[]; volumes?: Volume[] } };
  };
};

const ci = (file: string) => [`charts/nnunet-operator/ci/${file}`];
const container = (o: K8sObject) => (o as Workload).spec.template.spec.containers[0]!;
const env = (c: Container) =>
  Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? `fieldRef:${e.valueFrom?.fieldRef?.fieldPath}`]));
const volume = (o: K8sObject, name: string) => (o as Workload).spec.template.spec.volumes?.find((v) => v.name === name);
const operatorConfig = (objects: K8sObject[]) =>
  parse(
    (find(objects, "ConfigMap", "nnunet-operator-config").data as Record<string, string>)["config.yaml"]!,
  ) as Record<string, unknown>;

describe("the operator's config file", () => {
  it("has, with the default values, exactly the keys and values services/operator's OperatorConfig reads", () => {
    assert.deepEqual(operatorConfig(renderChart()), {
      namespace: "nnunet-system",
      queues: [{ name: "default" }],
      gpu: { acceptedProducts: ["NVIDIA-L40S"], defaultProductLabel: "nvidia.com/gpu.product", extraTolerations: [] },
      images: {
        training: "nnunet-operator/nnunet:0.1.0",
        reporter: "nnunet-operator/reporter:0.1.0",
        pullPolicy: "IfNotPresent",
      },
      nats: {
        url: "nats://nnunet-operator-nats.nnunet-system.svc:4222",
        auth: {
          credsFile: "/etc/nnunet-operator/nats-auth/operator.creds",
          signingKeyFile: "/etc/nnunet-operator/nats-auth/account-signing.nk",
          accountPublicKeyFile: "/etc/nnunet-operator/nats-auth/account.pub",
        },
      },
      policy: { allowedImages: [], allowedPriorityClasses: [] },
      calibration: { retryLimit: 2, backend: "torch", cacheConfigMap: "nnunet-calibration-cache" },
      restartBackoff: { initialSeconds: 10, maxSeconds: 600 },
      startTimeouts: {
        unschedulableSeconds: 600,
        imagePullSeconds: 300,
        containerConfigSeconds: 120,
        firstEpochSeconds: 1800,
      },
    });
  });

  it("carries start timeouts through, 0 (off) included, as the operator parses them", () => {
    const config = operatorConfig(renderChart({ valuesFiles: ci("minimal-values.yaml") }));
    assert.deepEqual(config.startTimeouts, {
      unschedulableSeconds: 900,
      imagePullSeconds: 0,
      containerConfigSeconds: 120,
      firstEpochSeconds: 3600,
    });
    assert.deepEqual(parseOperatorConfig(stringify(config)).startTimeouts, config.startTimeouts);
  });

  it("carries quotas, several products and extra tolerations through", () => {
    const config = operatorConfig(renderChart({ valuesFiles: ci("minimal-values.yaml") }));
    assert.deepEqual(config.queues, [
      { name: "default", gpuQuota: 8 },
      { name: "research", gpuQuota: 4 },
    ]);
    assert.deepEqual((config.gpu as { acceptedProducts: string[] }).acceptedProducts, [
      "NVIDIA-L40S",
      "NVIDIA-A100-SXM4-80GB",
    ]);
    assert.deepEqual((config.gpu as { extraTolerations: unknown[] }).extraTolerations, [
      { key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule" },
    ]);
  });

  it("names an external NATS server and its credentials Secret for the reporter", () => {
    const objects = renderChart({ valuesFiles: ci("external-nats-values.yaml") });
    assert.deepEqual(operatorConfig(objects).nats, {
      url: "tls://nats-0.nats.example:4222,tls://nats-1.nats.example:4222",
      credsSecret: { name: "nnunet-nats-creds", key: "user.creds" },
    });
    const earlyStop = find(objects, "Deployment", "nnunet-operator-early-stop");
    assert.equal(env(container(earlyStop)).NATS_URL, "tls://nats-0.nats.example:4222,tls://nats-1.nats.example:4222");
    assert.equal(env(container(earlyStop)).NATS_CREDS_FILE, "/etc/nnunet-operator/nats/nats.creds");
    assert.deepEqual(volume(earlyStop, "nats-creds")?.secret, {
      secretName: "nnunet-nats-creds",
      items: [{ key: "user.creds", path: "nats.creds" }],
    });
  });
});

describe("the operator and early-stop Deployments", () => {
  const objects = renderChart();
  const operator = find(objects, "Deployment", "nnunet-operator") as Workload;
  const earlyStop = find(objects, "Deployment", "nnunet-operator-early-stop") as Workload;

  it("run two replicas each, which elect a leader with the pod's name and namespace", () => {
    for (const d of [operator, earlyStop]) {
      assert.equal(d.spec.replicas, 2);
      const e = env(container(d));
      assert.equal(e.POD_NAME, "fieldRef:metadata.name");
      assert.equal(e.POD_NAMESPACE, "fieldRef:metadata.namespace");
    }
  });

  it("give the operator its config file, ports 8080 and 9443, probes and the webhook certificate", () => {
    const c = container(operator);
    assert.deepEqual(
      c.ports?.map((p) => [p.name, p.containerPort]),
      [
        ["metrics", 8080],
        ["webhook", 9443],
      ],
    );
    assert.deepEqual([c.livenessProbe?.httpGet?.path, c.readinessProbe?.httpGet?.path], ["/healthz", "/readyz"]);
    const e = env(c);
    assert.equal(e.NNUNET_OPERATOR_CONFIG, "/etc/nnunet-operator/config/config.yaml");
    assert.equal(e.WEBHOOK_CERT_DIR, "/etc/nnunet-operator/tls");
    assert.equal(volume(operator, "config")?.configMap?.name, "nnunet-operator-config");
    assert.equal(volume(operator, "webhook-tls")?.secret?.secretName, "nnunet-operator-webhook-tls");
    assert.ok(c.volumeMounts?.some((m) => m.name === "webhook-tls" && m.mountPath === e.WEBHOOK_CERT_DIR));
    assert.ok(
      c.volumeMounts?.some((m) => m.name === "config" && e.NNUNET_OPERATOR_CONFIG?.startsWith(`${m.mountPath}/`)),
    );
  });

  it("use their own ServiceAccounts and select their pods through Services on named ports", () => {
    assert.equal(operator.spec.template.spec.serviceAccountName, "nnunet-operator");
    assert.equal(earlyStop.spec.template.spec.serviceAccountName, "nnunet-operator-early-stop");
    for (const [svc, deployment, port] of [
      ["nnunet-operator-metrics", operator, "metrics"],
      ["nnunet-operator-webhook", operator, "webhook"],
      ["nnunet-operator-early-stop-metrics", earlyStop, "metrics"],
    ] as const) {
      const service = find(objects, "Service", svc).spec as {
        selector: Record<string, string>;
        ports: { targetPort: string }[];
      };
      const labels = (deployment.spec.template as unknown as { metadata: { labels: Record<string, string> } }).metadata
        .labels;
      for (const [k, v] of Object.entries(service.selector))
        assert.equal(labels[k], v, `${svc} does not select ${deployment.metadata.name}`);
      assert.equal(service.ports[0]?.targetPort, port);
      assert.ok(container(deployment).ports?.some((p) => p.name === port));
    }
  });
});

describe("the validating webhook", () => {
  type Webhook = {
    name: string;
    failurePolicy: string;
    sideEffects: string;
    clientConfig: { caBundle?: string; service: { name: string; namespace: string; path: string; port: number } };
    rules: { operations: string[]; resources: string[]; apiGroups: string[] }[];
  };
  const webhookOf = (objects: K8sObject[]) =>
    (find(objects, "ValidatingWebhookConfiguration", "nnunet-operator") as unknown as { webhooks: Webhook[] })
      .webhooks[0]!;

  it("validates TrainingRun CREATE and UPDATE at /validate-trainingrun on the webhook Service", () => {
    const hook = webhookOf(renderChart());
    assert.deepEqual(hook.rules, [
      {
        apiGroups: ["nnunet-operator.io"],
        apiVersions: ["v1alpha1"],
        operations: ["CREATE", "UPDATE"],
        resources: ["trainingruns"],
        scope: "Namespaced",
      },
    ]);
    assert.deepEqual(hook.clientConfig.service, {
      name: "nnunet-operator-webhook",
      namespace: "nnunet-system",
      path: "/validate-trainingrun",
      port: 443,
    });
    assert.equal(hook.sideEffects, "None");
  });

  it("trusts, without cert-manager, a generated CA that signed the serving certificate for the Service's names", () => {
    const objects = renderChart();
    const data = find(objects, "Secret", "nnunet-operator-webhook-tls").data as Record<string, string>;
    const pem = (key: string) => Buffer.from(data[key]!, "base64").toString("utf8");
    assert.equal(webhookOf(objects).clientConfig.caBundle, data["ca.crt"]);
    const ca = new X509Certificate(pem("ca.crt"));
    const cert = new X509Certificate(pem("tls.crt"));
    assert.ok(ca.ca, "ca.crt is not a CA");
    assert.ok(cert.verify(ca.publicKey), "tls.crt is not signed by ca.crt");
    assert.ok(cert.checkPrivateKey(createPrivateKey(pem("tls.key"))), "tls.key does not match tls.crt");
    for (const host of [
      "nnunet-operator-webhook.nnunet-system.svc",
      "nnunet-operator-webhook.nnunet-system.svc.cluster.local",
    ])
      assert.equal(cert.checkHost(host), host);
    assert.ok(
      new Date(cert.validTo).getTime() > Date.now() + 3000 * 86_400_000,
      "certificate valid for less than ~10 years",
    );
  });

  it("lets cert-manager issue the certificate into the mounted Secret and inject the CA", () => {
    const objects = renderChart({ valuesFiles: ci("cert-manager-values.yaml") });
    const cert = find(objects, "Certificate", "nnunet-operator-webhook").spec as {
      secretName: string;
      dnsNames: string[];
      issuerRef: unknown;
    };
    assert.equal(cert.secretName, "nnunet-operator-webhook-tls");
    assert.ok(cert.dnsNames.includes("nnunet-operator-webhook.nnunet-system.svc"));
    assert.deepEqual(cert.issuerRef, { name: "internal-ca", kind: "ClusterIssuer", group: "cert-manager.io" });
    const vwc = find(objects, "ValidatingWebhookConfiguration", "nnunet-operator");
    assert.equal(vwc.metadata.annotations?.["cert-manager.io/inject-ca-from"], "nnunet-system/nnunet-operator-webhook");
    assert.equal(webhookOf(objects).clientConfig.caBundle, undefined);
  });
});

describe("watchNamespaces: what the operator and early-stop serve", () => {
  type Selector = { matchExpressions?: { key: string; operator: string; values: string[] }[] };
  type Peer = { namespaceSelector?: Selector; podSelector?: { matchLabels?: Record<string, string> } };
  const inNamespaces = (values: string[]): Selector => ({
    matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values }],
  });
  const cases: Array<{
    name: string;
    valuesFiles?: string[];
    set?: Record<string, string>;
    /** The webhook's and the NATS policy's namespaceSelector for training pods. */
    webhookSelector: Selector | undefined;
    trainPeerSelector: Selector;
    config: string[] | undefined;
    earlyStopEnv: Record<string, string | undefined>;
  }> = [
    {
      name: "every namespace (default): no selector, training pods from any namespace",
      webhookSelector: undefined,
      trainPeerSelector: {},
      config: undefined,
      earlyStopEnv: { WATCH_NAMESPACES: undefined, PURGE_SWEEP_MINUTES: "60" },
    },
    {
      name: "[team-a, team-b]: the webhook, the NATS policy and both services' configuration limited to them",
      valuesFiles: ci("watch-namespaces-values.yaml"),
      webhookSelector: inNamespaces(["team-a", "team-b"]),
      trainPeerSelector: inNamespaces(["team-a", "team-b"]),
      config: ["team-a", "team-b"],
      earlyStopEnv: { WATCH_NAMESPACES: "team-a,team-b", PURGE_SWEEP_MINUTES: "60" },
    },
    {
      name: "[team-a] with a 5-minute purge sweep",
      set: { watchNamespaces: "{team-a}", "earlyStop.purgeSweepMinutes": "5" },
      webhookSelector: inNamespaces(["team-a"]),
      trainPeerSelector: inNamespaces(["team-a"]),
      config: ["team-a"],
      earlyStopEnv: { WATCH_NAMESPACES: "team-a", PURGE_SWEEP_MINUTES: "5" },
    },
  ];
  for (const c of cases) {
    describe(c.name, () => {
      const objects = renderChart({ valuesFiles: c.valuesFiles ?? [], set: c.set ?? {} });

      it("selects the namespaces whose TrainingRuns the webhook validates", () => {
        const vwc = find(objects, "ValidatingWebhookConfiguration", "nnunet-operator") as unknown as {
          webhooks: { namespaceSelector?: Selector }[];
        };
        assert.deepEqual(vwc.webhooks[0]?.namespaceSelector, c.webhookSelector);
      });

      it("admits to NATS training pods from these namespaces only, and early-stop and the operator", () => {
        const policy = find(objects, "NetworkPolicy", "nnunet-operator-nats").spec as {
          ingress: { ports: { port: number }[]; from: Peer[] }[];
        };
        const client = policy.ingress.find((r) => r.ports.some((p) => p.port === 4222));
        const train = client?.from.filter((p) => p.podSelector?.matchLabels?.["nnunet-operator.io/role"] === "train");
        assert.deepEqual(
          train?.map((p) => p.namespaceSelector),
          [c.trainPeerSelector],
        );
        assert.deepEqual(
          client?.from
            .filter((p) => p.namespaceSelector === undefined)
            .map((p) => p.podSelector?.matchLabels?.["app.kubernetes.io/component"]),
          ["early-stop", "operator"],
          "the services' own pods, in the release namespace",
        );
      });

      it("tells the operator (config file) and early-stop (environment) the same namespaces", () => {
        assert.deepEqual(operatorConfig(objects).watchNamespaces, c.config);
        const e = env(container(find(objects, "Deployment", "nnunet-operator-early-stop")));
        assert.deepEqual(
          { WATCH_NAMESPACES: e.WATCH_NAMESPACES, PURGE_SWEEP_MINUTES: e.PURGE_SWEEP_MINUTES },
          c.earlyStopEnv,
        );
      });
    });
  }
});

describe("the in-chart NATS server", () => {
  it("starts from the rendered nats.conf: nats-server accepts it with JetStream on file storage", async () => {
    const material = await generateNatsAuth();
    const objects = renderChart();
    const conf = (find(objects, "ConfigMap", "nnunet-operator-nats-config").data as Record<string, string>)[
      "nats.conf"
    ]!;
    assert.match(conf, /jetstream \{[^}]*store_dir: \/data\/jetstream/);
    const dir = mkdtempSync(join(tmpdir(), "nats-conf-"));
    try {
      writeFileSync(join(dir, "nats.conf"), conf);
      // The include the auth Secret supplies (projected beside nats.conf in the pod).
      mkdirSync(join(dir, "auth"));
      writeFileSync(join(dir, "auth", "auth.conf"), serverAuthConfig(material));
      const result = spawnSync("nats-server", ["-c", join(dir, "nats.conf"), "-t"], {
        encoding: "utf8",
        env: { ...process.env, POD_NAME: "nnunet-operator-nats-0", PATH: `${process.env.PATH}:/usr/sbin:/usr/bin` },
      });
      assert.equal(result.error, undefined, String(result.error));
      assert.equal(result.status, 0, result.stdout + result.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps JetStream on a PersistentVolumeClaim mounted where store_dir points", () => {
    const sts = find(renderChart(), "StatefulSet", "nnunet-operator-nats") as Workload & {
      spec: {
        volumeClaimTemplates: { metadata: { name: string }; spec: { resources: { requests: { storage: string } } } }[];
      };
    };
    assert.equal(sts.spec.volumeClaimTemplates[0]?.metadata.name, "data");
    assert.equal(sts.spec.volumeClaimTemplates[0]?.spec.resources.requests.storage, "10Gi");
    assert.ok(container(sts).volumeMounts?.some((m) => m.name === "data" && m.mountPath === "/data"));
  });
});
