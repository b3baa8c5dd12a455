import type { KubeObject } from "../api/resources.js";
import type { Cluster } from "../cluster.js";
import { KeyQueue } from "../sim/key-queue.js";
import { selfSignedCertificate } from "../tls.js";

// A small stand-in for cert-manager, so that `kubectl apply -k deploy/` (whose webhook TLS
// is a cert-manager Certificate from a self-signed Issuer, as most clusters issue it) runs
// on the devcluster: the cert-manager.io/v1 CRDs (Issuer, ClusterIssuer, Certificate; their
// schemas are not checked), a controller that issues `selfSigned` Certificates into their
// Secret (tls.crt, tls.key, ca.crt) and marks them Ready, and the cainjector's
// `cert-manager.io/inject-ca-from` for ValidatingWebhookConfigurations. Any other issuer
// kind gets Ready=False naming what is missing. Not real cert-manager: no renewal, no ACME,
// no CA or Vault issuers, no CertificateRequests.

const GROUP = "cert-manager.io";
const INJECT = "cert-manager.io/inject-ca-from";
type Obj = Record<string, unknown>;

export function certManagerCrds(): KubeObject[] {
  const crd = (plural: string, kind: string, scope: "Namespaced" | "Cluster"): KubeObject => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope,
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
        },
      ],
    },
  });
  return [
    crd("issuers", "Issuer", "Namespaced"),
    crd("clusterissuers", "ClusterIssuer", "Cluster"),
    crd("certificates", "Certificate", "Namespaced"),
  ];
}

export class CertManagerStandIn {
  private readonly queue: KeyQueue;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly cluster: Cluster) {
    this.queue = new KeyQueue((key) => (key.startsWith("inject:") ? this.inject(key.slice(7)) : this.issue(key)), {
      name: "cert-manager",
      reporter: cluster.controllerFailures,
    });
  }

  start(): () => void {
    const s = this.cluster.store;
    const all = () => {
      for (const e of s.scan(`certificates.${GROUP}`)) this.queue.add(`${e.namespace}/${e.name}`);
      for (const e of s.scan("validatingwebhookconfigurations.admissionregistration.k8s.io"))
        this.queue.add(`inject:${e.name}`);
    };
    for (const [storage, group, resource] of [
      [`certificates.${GROUP}`, GROUP, "certificates"],
      [`issuers.${GROUP}`, GROUP, "issuers"],
      ["secrets", "", "secrets"],
      [
        "validatingwebhookconfigurations.admissionregistration.k8s.io",
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
      ],
    ] as const) {
      this.unsubscribe.push(s.watch(storage, { group, resource }, undefined, all));
    }
    all();
    return () => {
      for (const u of this.unsubscribe.splice(0)) u();
      this.queue.stop();
    };
  }

  private async issue(key: string): Promise<void> {
    const [ns, name] = key.split("/") as [string, string];
    const c = this.cluster;
    const cert = c.store.get(`certificates.${GROUP}`, ns, name);
    if (!cert) return;
    const spec = (cert["spec"] ?? {}) as {
      secretName?: string;
      commonName?: string;
      dnsNames?: string[];
      issuerRef?: { name?: string; kind?: string };
    };
    const ref = spec.issuerRef ?? {};
    const issuer =
      ref.kind === "ClusterIssuer"
        ? c.store.get(`clusterissuers.${GROUP}`, undefined, ref.name ?? "")
        : c.store.get(`issuers.${GROUP}`, ns, ref.name ?? "");
    const certDef = c.resourceFor(`${GROUP}/v1`, "Certificate");
    const setReady = async (status: "True" | "False", reason: string, message: string) => {
      const prev = (
        (cert["status"] as { conditions?: { type: string; status: string; reason?: string }[] } | undefined)
          ?.conditions ?? []
      ).find((x) => x.type === "Ready");
      if (prev?.status === status && prev.reason === reason) return;
      await c.registry.patch(
        certDef,
        ns,
        name,
        "merge",
        {
          status: {
            conditions: [
              {
                type: "Ready",
                status,
                reason,
                message,
                lastTransitionTime: c.timestamp(),
                observedGeneration: cert.metadata.generation ?? 1,
              },
            ],
          },
        },
        { fieldManager: "cert-manager-certificates" },
        "status",
      );
    };
    if (!issuer)
      return setReady(
        "False",
        "IssuerNotFound",
        `Referenced "${ref.kind ?? "Issuer"}" not found: ${ref.kind === "ClusterIssuer" ? "" : `${ns}/`}${ref.name ?? ""}`,
      );
    if (!(issuer["spec"] as Obj | undefined)?.["selfSigned"])
      return setReady(
        "False",
        "IssuerNotSupported",
        "the devcluster's cert-manager stand-in issues only from selfSigned issuers",
      );
    if (!spec.secretName) return setReady("False", "InvalidSpec", "spec.secretName: Required value");
    const existing = c.store.get("secrets", ns, spec.secretName);
    if (!existing?.["data"] || !(existing["data"] as Obj)["tls.crt"]) {
      const pair = selfSignedCertificate(spec.commonName ?? spec.dnsNames?.[0] ?? name, c.now(), spec.dnsNames ?? []);
      const b64 = (s: string) => Buffer.from(s).toString("base64");
      const data = { "tls.crt": b64(pair.certPem), "tls.key": b64(pair.keyPem), "ca.crt": b64(pair.certPem) };
      const secretDef = c.resource("", "v1", "secrets");
      const secret: KubeObject = {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: spec.secretName,
          namespace: ns,
          annotations: { "cert-manager.io/certificate-name": name, "cert-manager.io/issuer-name": ref.name ?? "" },
        },
        type: "kubernetes.io/tls",
        data,
      };
      if (existing)
        await c.registry.patch(
          secretDef,
          ns,
          spec.secretName,
          "merge",
          { data },
          { fieldManager: "cert-manager-certificates" },
        );
      else await c.registry.create(secretDef, ns, secret, { fieldManager: "cert-manager-certificates" });
    }
    await setReady("True", "Ready", "Certificate is up to date and has not expired");
  }

  /** cainjector: the named Certificate's Secret's ca.crt becomes each webhook's caBundle. */
  private async inject(name: string): Promise<void> {
    const c = this.cluster;
    const vwc = c.store.get("validatingwebhookconfigurations.admissionregistration.k8s.io", undefined, name);
    const from = vwc?.metadata.annotations?.[INJECT];
    if (!vwc || !from) return;
    const [ns, certName] = from.split("/") as [string, string];
    const cert = c.store.get(`certificates.${GROUP}`, ns, certName);
    const secretName = (cert?.["spec"] as { secretName?: string } | undefined)?.secretName;
    const ca = secretName
      ? ((c.store.get("secrets", ns, secretName)?.["data"] as Obj | undefined)?.["ca.crt"] as string | undefined)
      : undefined;
    if (!ca) return;
    const webhooks = (vwc["webhooks"] as { clientConfig?: Obj }[] | undefined) ?? [];
    if (webhooks.every((w) => w.clientConfig?.["caBundle"] === ca)) return;
    const patched = webhooks.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: ca } }));
    await c.registry.patch(
      c.resource("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations"),
      undefined,
      name,
      "merge",
      { webhooks: patched },
      { fieldManager: "cert-manager-cainjector" },
    );
  }
}
