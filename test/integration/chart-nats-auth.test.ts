import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { parseOperatorConfig } from "@nnunet-operator/operator";
import { find, type K8sObject, renderChart } from "../chart/render.js";

// NATS as the chart renders it (issue 17): auth on by default, each pod mounting only its
// own keys of the auth Secret, the monitoring port closed unless enabled, TLS as an option,
// the metrics ports open to the monitoring namespace only.

type Source = { configMap?: { name: string }; secret?: { name: string; items?: { key: string; path: string }[] } };
type Volume = { name: string; projected?: { sources: Source[] }; secret?: { secretName: string } };
type Container = {
  name: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet?: unknown; tcpSocket?: { port: string } };
};
type Workload = K8sObject & {
  spec: { template: { spec: { containers: Container[]; volumes?: Volume[]; serviceAccountName?: string } } };
};
type Policy = K8sObject & { spec: { ingress: { ports: { port: number }[]; from?: unknown[] }[] } };

const workload = (objects: K8sObject[], kind: string, name: string) => find(objects, kind, name) as Workload;
/** Every Secret key a workload's volumes project, as "secret/key". */
function secretKeys(w: Workload): string[] {
  return (w.spec.template.spec.volumes ?? []).flatMap((v) => [
    ...(v.projected?.sources ?? []).flatMap((s) =>
      s.secret ? (s.secret.items ?? [{ key: "*", path: "*" }]).map((i) => `${s.secret!.name}/${i.key}`) : [],
    ),
    ...(v.secret ? [`${v.secret.secretName}/*`] : []),
  ]);
}

describe("NATS auth in the chart", () => {
  const objects = renderChart();
  const config = parseOperatorConfig(
    (find(objects, "ConfigMap", "nnunet-operator-config").data as Record<string, string>)["config.yaml"]!,
  );

  it("is on by default: the operator's config names its own user and the signing key it mints fold users with", () => {
    assert.deepEqual(config.nats.auth, {
      credsFile: "/etc/nnunet-operator/nats-auth/operator.creds",
      signingKeyFile: "/etc/nnunet-operator/nats-auth/account-signing.nk",
      accountPublicKeyFile: "/etc/nnunet-operator/nats-auth/account.pub",
    });
    assert.equal(config.nats.credsSecret, undefined, "no shared credential");
  });

  it("mounts into each pod only its own keys of the auth Secret", () => {
    const secret = "nnunet-operator-nats-auth";
    assert.deepEqual(secretKeys(workload(objects, "StatefulSet", "nnunet-operator-nats")), [`${secret}/auth.conf`]);
    assert.deepEqual(
      secretKeys(workload(objects, "Deployment", "nnunet-operator")).filter((k) => k.startsWith(secret)),
      [`${secret}/operator.creds`, `${secret}/account-signing.nk`, `${secret}/account.pub`],
    );
    assert.deepEqual(secretKeys(workload(objects, "Deployment", "nnunet-operator-early-stop")), [
      `${secret}/early-stop.creds`,
    ]);
  });

  it("generates the Secret in a pre-install/pre-upgrade hook Job running the operator image, unless existingSecret names one", () => {
    const job = find(objects, "Job", "nnunet-operator-nats-bootstrap") as Workload;
    assert.equal(job.metadata.annotations?.["helm.sh/hook"], "pre-install,pre-upgrade");
    const c = job.spec.template.spec.containers[0]!;
    assert.deepEqual(c.args?.slice(-2), ["/app/main.mjs", "nats-bootstrap"]);
    assert.equal(c.env?.find((e) => e.name === "NATS_AUTH_SECRET")?.value, "nnunet-operator-nats-auth");
    const own = renderChart({ set: { "nats.auth.existingSecret": "gitops-nats-auth" } });
    assert.equal(
      own.some((o) => o.metadata.name === "nnunet-operator-nats-bootstrap"),
      false,
    );
    assert.deepEqual(secretKeys(workload(own, "Deployment", "nnunet-operator-early-stop")), [
      "gitops-nats-auth/early-stop.creds",
    ]);
  });

  it("refuses a shared credential beside per-fold users, naming the key", () => {
    assert.throws(
      () => renderChart({ set: { "nats.credsSecret.name": "shared" } }),
      /nats\.credsSecret\.name: must be empty when nats\.auth\.enabled is true/,
    );
  });

  it("keeps the monitoring port closed by default (no container port, Service port or policy rule; probes on the client port)", () => {
    const nats = workload(objects, "StatefulSet", "nnunet-operator-nats");
    const conf = (find(objects, "ConfigMap", "nnunet-operator-nats-config").data as Record<string, string>)[
      "nats.conf"
    ]!;
    assert.doesNotMatch(conf, /http_port/);
    assert.deepEqual(
      nats.spec.template.spec.containers[0]!.ports?.map((p) => p.containerPort),
      [4222],
    );
    assert.deepEqual(nats.spec.template.spec.containers[0]!.readinessProbe?.tcpSocket, { port: "client" });
    const policy = find(objects, "NetworkPolicy", "nnunet-operator-nats") as Policy;
    assert.deepEqual(
      policy.spec.ingress.flatMap((r) => r.ports.map((p) => p.port)),
      [4222],
    );
    const open = renderChart({ set: { "nats.embedded.monitoring.enabled": "true" } });
    assert.match(
      (find(open, "ConfigMap", "nnunet-operator-nats-config").data as Record<string, string>)["nats.conf"]!,
      /http_port: 8222/,
    );
    assert.deepEqual(
      (find(open, "NetworkPolicy", "nnunet-operator-nats") as Policy).spec.ingress.flatMap((r) =>
        r.ports.map((p) => p.port),
      ),
      [4222, 8222],
    );
  });

  it("with TLS serves the Secret's certificate and gives every client its CA", () => {
    const tls = renderChart({ set: { "nats.tls.enabled": "true", "nats.tls.secretName": "nats-tls" } });
    const conf = (find(tls, "ConfigMap", "nnunet-operator-nats-config").data as Record<string, string>)["nats.conf"]!;
    assert.match(conf, /tls \{\n\s+cert_file: \/etc\/nats\/tls\/tls.crt/);
    const operatorConfig = parseOperatorConfig(
      (find(tls, "ConfigMap", "nnunet-operator-config").data as Record<string, string>)["config.yaml"]!,
    );
    assert.equal(operatorConfig.nats.url, "tls://nnunet-operator-nats.nnunet-system.svc:4222");
    assert.equal(operatorConfig.nats.tlsCaFile, "/etc/nnunet-operator/nats-auth/ca.crt");
    for (const name of ["nnunet-operator", "nnunet-operator-early-stop"])
      assert.ok(secretKeys(workload(tls, "Deployment", name)).includes("nats-tls/ca.crt"), name);
    assert.throws(() => renderChart({ set: { "nats.tls.enabled": "true" } }), /nats\.tls\.secretName/);
  });

  it("admits scrapes of the metrics ports only from the monitoring namespace by default", () => {
    for (const name of ["nnunet-operator", "nnunet-operator-early-stop"]) {
      const policy = find(objects, "NetworkPolicy", name) as Policy;
      const metrics = policy.spec.ingress.find((r) => r.ports.some((p) => p.port === 8080));
      assert.deepEqual(
        metrics?.from,
        [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
        name,
      );
    }
  });
});
