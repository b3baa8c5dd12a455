import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "./api/resources.js";
import { Cluster, userFromName, type ClusterOptions } from "./cluster.js";
import { createApiHandler, type SubresourceHandler } from "./http/api-handler.js";
import { bindingHandler, evictionHandler } from "./http/binding-handler.js";
import { CertManagerStandIn, certManagerCrds } from "./workloads/cert-manager.js";
import { buildKubeconfig } from "./kubeconfig.js";
import { selfSignedCertificate } from "./tls.js";
import { logHandler } from "./kubelet/logs.js";
import { startSimulation, type Simulation, type SimulationOptions } from "./sim/simulation.js";
import { tokenRequestHandler } from "./http/token-handler.js";
import type { ControllerFailure, ControllerFailureCount } from "./sim/controller-failures.js";

// startDevCluster: the cluster behind a node:http server on 127.0.0.1, plus a kubeconfig
// that points kubectl and client libraries at it.

export interface DevClusterOptions extends ClusterOptions, SimulationOptions {
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Where to write the kubeconfig; a temporary file when omitted. */
  kubeconfigPath?: string;
  /** Authorise every request against the RBAC objects in the cluster; bearer tokens identify users. */
  rbac?: boolean;
  /** Extra bearer tokens: token -> username (`system:serviceaccount:ns:name` gets the service account groups). */
  tokens?: Record<string, string>;
  /** Interval of watch bookmarks for watchers that allow them. */
  bookmarkIntervalMs?: number;
  /**
   * Serve HTTPS with a self-signed certificate (written into the kubeconfig); the default.
   * kubectl sends bearer tokens and impersonation only over TLS, and client-node refuses
   * plain http unless the kubeconfig skips TLS verification (which the http kubeconfig does).
   */
  tls?: boolean;
  /** Request log (pino), one debug line per request. */
  logger?: { debug(obj: object, msg: string): void };
  /** YAML files (CRDs, RBAC, anything) created at start, in order. */
  manifests?: string[];
  /** Serve cert-manager.io's CRDs and issue selfSigned Certificates (workloads/cert-manager.ts), for `kubectl apply -k deploy/`. */
  certManager?: boolean;
}

export interface DevCluster {
  url: string;
  kubeconfigPath: string;
  /** PEM of the self-signed serving certificate when serving HTTPS. */
  caPem: string | undefined;
  /** The bearer token of the admin user in the kubeconfig (system:masters). */
  adminToken: string;
  cluster: Cluster;
  /** Nodes, scheduler, Job controller and kubelet when `nodes` was given (part 2). */
  simulation: Simulation | undefined;
  /** Serves an extra subresource such as `pods/log`. */
  addSubresource(key: string, handler: SubresourceHandler): void;
  serviceAccountToken(namespace: string, name: string): string;
  /** Failures of the in-process controllers' queues, oldest first (the last 200 expected and 200 unexpected). */
  controllerFailures(): ControllerFailure[];
  /** Every controller failure counted per queue and kind (expected: a conflict or an object gone meanwhile). */
  controllerFailureCounts(): ControllerFailureCount[];
  stop(): Promise<void>;
}

export function loadManifests(path: string): KubeObject[] {
  return parseAllDocuments(readFileSync(path, "utf8"))
    .map((d) => d.toJSON() as unknown)
    .filter((o): o is KubeObject => typeof o === "object" && o !== null && "kind" in o);
}

export async function startDevCluster(options: DevClusterOptions = {}): Promise<DevCluster> {
  // With simulated nodes a kubelet ends graceful pod deletions.
  const cluster = new Cluster(options.nodes !== undefined ? { ...options, podTermination: "external" } : options);
  await cluster.start();
  let stopCertManager: (() => void) | undefined;
  if (options.certManager) {
    for (const crd of certManagerCrds()) await cluster.create(crd);
    stopCertManager = new CertManagerStandIn(cluster).start();
  }
  for (const file of options.manifests ?? []) for (const obj of loadManifests(file)) await cluster.create(obj);
  for (const [token, name] of Object.entries(options.tokens ?? {})) cluster.addToken(token, userFromName(name));
  const adminToken = `devcluster-admin-${randomBytes(16).toString("hex")}`;
  const subresources = new Map<string, SubresourceHandler>([
    ["pods/binding", bindingHandler(cluster)],
    ["pods/eviction", evictionHandler(cluster)],
    ["serviceaccounts/token", tokenRequestHandler(cluster)],
  ]);
  const simulation = options.nodes !== undefined ? await startSimulation(cluster, options) : undefined;
  if (simulation) subresources.set("pods/log", logHandler(simulation.kubelet.logSource()));
  const host = options.host ?? "127.0.0.1";
  let hostHeader = host;
  const handler = createApiHandler(cluster, {
    rbac: options.rbac ?? false,
    adminToken,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
    subresources,
    hostHeader: () => hostHeader,
    logger: options.logger,
  });
  const serverOptions = { requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000 };
  const tls = options.tls ?? true;
  const cert = tls ? selfSignedCertificate() : undefined;
  const server: Server = cert
    ? createHttpsServer({ ...serverOptions, cert: cert.certPem, key: cert.keyPem }, handler)
    : createServer(serverOptions, handler);
  server.on("clientError", (_error, socket) => {
    // A response already under way (a watch) must not get a second status line.
    const busy = (socket as unknown as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (socket.writable && !busy) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  hostHeader = `${host}:${port}`;
  simulation?.kubelet.setApiServer({ host, port, caPem: cert?.certPem });
  const url = `${cert ? "https" : "http"}://${host}:${port}`;
  const kubeconfigPath = options.kubeconfigPath ?? join(mkdtempSync(join(tmpdir(), "devcluster-")), "kubeconfig");
  writeFileSync(kubeconfigPath, buildKubeconfig(url, adminToken, {}, cert?.certPem), { mode: 0o600 });
  return {
    url,
    kubeconfigPath,
    caPem: cert?.certPem,
    adminToken,
    cluster,
    simulation,
    addSubresource: (key, h) => void subresources.set(key, h),
    serviceAccountToken: (ns, name) => cluster.serviceAccountToken(ns, name),
    controllerFailures: () => cluster.controllerFailures.list(),
    controllerFailureCounts: () => cluster.controllerFailures.counts(),
    stop: async () => {
      simulation?.stop();
      stopCertManager?.();
      cluster.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
