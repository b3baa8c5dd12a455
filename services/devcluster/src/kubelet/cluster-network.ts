import { renameSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { addressBlock, randomAddress } from "../address-block.js";
import type { KubeObject } from "../api/resources.js";
import type { Cluster } from "../cluster.js";
import { KeyQueue } from "../sim/key-queue.js";
import { readyEndpoints } from "../workloads/service-endpoints.js";

// The pod network of the simulated nodes, on loopback addresses: pod IPs from 127.1.0.0/16
// (one per running pod, so replicas can listen on the same port), Service ClusterIPs from
// 127.96.0.0/16 (allocated by the API server), kube-proxy (a TCP proxy on each ClusterIP
// and port to a ready endpoint of the Service's EndpointSlices) and cluster DNS (a JSON
// table the pod shim reads: Services, headless Services' pods, StatefulSet pod hostnames).
// Nothing is enforced between pods: NetworkPolicies are stored, not applied.

export const POD_IP_PREFIX = "127.1.";
export const DNS_FILE = "cluster-dns.json";

/** Random free addresses, so that devclusters on one machine (parallel tests) rarely pick the same. */
export class PodIps {
  private readonly used = new Map<string, string>();

  constructor(
    private readonly random: () => number = Math.random,
    private readonly block: number | undefined = addressBlock(),
  ) {}

  /** A free pod IP for `uid` (the same one while the pod lives). */
  take(uid: string): string {
    const have = this.used.get(uid);
    if (have) return have;
    const taken = new Set(this.used.values());
    for (let tries = 0; tries < 100_000; tries++) {
      const ip = randomAddress(POD_IP_PREFIX, this.random, this.block);
      if (ip === undefined || taken.has(ip)) continue;
      this.used.set(uid, ip);
      return ip;
    }
    throw new Error("pod IP range 127.1.0.0/16 is exhausted");
  }

  release(uid: string): void {
    this.used.delete(uid);
  }
}

const podIp = (p: KubeObject) => (p["status"] as { podIP?: string } | undefined)?.podIP;

/** name -> IPs, with fully qualified names (`svc.ns.svc.cluster.local`). */
export function buildDnsTable(services: Iterable<KubeObject>, pods: readonly KubeObject[]): Record<string, string[]> {
  const table: Record<string, string[]> = {};
  for (const svc of services) {
    const spec = (svc["spec"] ?? {}) as { clusterIP?: string; selector?: Record<string, string> };
    const fqdn = `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`;
    if (spec.clusterIP && spec.clusterIP !== "None") table[fqdn] = [spec.clusterIP];
    else if (spec.selector) {
      const members = pods.filter(
        (p) =>
          p.metadata.namespace === svc.metadata.namespace &&
          podIp(p) &&
          Object.entries(spec.selector!).every(([k, v]) => p.metadata.labels?.[k] === v),
      );
      table[fqdn] = members.map((p) => podIp(p)!);
    }
  }
  for (const p of pods) {
    const spec = (p["spec"] ?? {}) as { hostname?: string; subdomain?: string };
    if (spec.hostname && spec.subdomain && podIp(p))
      table[`${spec.hostname}.${spec.subdomain}.${p.metadata.namespace}.svc.cluster.local`] = [podIp(p)!];
  }
  return table;
}

export class ClusterNetwork {
  readonly dnsFile: string;
  private readonly proxies = new Map<string, Server>();
  private readonly queue: KeyQueue;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly cluster: Cluster,
    dataRoot: string,
  ) {
    this.dnsFile = join(dataRoot, DNS_FILE);
    this.queue = new KeyQueue(() => this.sync(), { name: "cluster-network", reporter: cluster.controllerFailures });
    writeFileSync(this.dnsFile, "{}");
  }

  start(): () => void {
    const s = this.cluster.store;
    for (const [storage, group, resource] of [
      ["services", "", "services"],
      ["pods", "", "pods"],
      ["endpointslices.discovery.k8s.io", "discovery.k8s.io", "endpointslices"],
    ] as const) {
      this.unsubscribe.push(s.watch(storage, { group, resource }, undefined, () => this.queue.add("sync")));
    }
    this.queue.add("sync");
    return () => this.stop();
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.queue.stop();
    for (const p of this.proxies.values()) p.close();
    for (const s of this.sockets) s.destroy();
    this.proxies.clear();
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async sync(): Promise<void> {
    const s = this.cluster.store;
    const services = [...s.scan("services")].map((e) => e.object);
    const pods = [...s.scan("pods")].map((e) => e.object).filter((p) => !p.metadata.deletionTimestamp);
    const tmp = `${this.dnsFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(buildDnsTable(services, pods)));
    renameSync(tmp, this.dnsFile);
    const want = new Set<string>();
    for (const svc of services) {
      const spec = (svc["spec"] ?? {}) as {
        clusterIP?: string;
        ports?: { name?: string; port: number; protocol?: string }[];
      };
      if (!spec.clusterIP || spec.clusterIP === "None") continue;
      for (const p of spec.ports ?? []) {
        if ((p.protocol ?? "TCP") !== "TCP") continue;
        const key = `${spec.clusterIP}:${p.port}`;
        want.add(key);
        if (!this.proxies.has(key))
          await this.listen(key, spec.clusterIP, p.port, svc.metadata.namespace!, svc.metadata.name!, p.name ?? "");
      }
    }
    for (const [key, server] of this.proxies) {
      if (want.has(key)) continue;
      server.close();
      this.proxies.delete(key);
    }
  }

  /** kube-proxy for one Service port: each connection goes to a ready endpoint picked at random. */
  private listen(key: string, ip: string, port: number, ns: string, name: string, portName: string): Promise<void> {
    const server = createServer((client) => {
      const eps = readyEndpoints(this.cluster.store, ns, name, portName);
      if (eps.length === 0) return client.destroy();
      const ep = eps[Math.floor(Math.random() * eps.length)]!;
      const upstream = connect(ep.port, ep.address);
      for (const sock of [client, upstream]) {
        this.sockets.add(sock);
        sock.on("close", () => this.sockets.delete(sock));
        sock.on("error", () => (sock === client ? upstream : client).destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    this.proxies.set(key, server);
    return new Promise((resolve) => {
      server.once("error", () => {
        // The address is taken (another cluster on this machine): the Service is unreachable through its ClusterIP, DNS still answers.
        this.proxies.delete(key);
        resolve();
      });
      server.listen(port, ip, () => resolve());
    });
  }
}
