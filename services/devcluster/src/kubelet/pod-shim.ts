import dns from "node:dns";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import net from "node:net";
import { resolve } from "node:path";

// Loaded with `--import` into the Node.js programs the kubelet runs (the operator, the
// early-stop controller, the reporter, helm test hooks): what a pod's network and mount
// namespaces give a process in a real cluster, for programs that take no paths or
// addresses from us.
// - Listening on 0.0.0.0 / :: binds the pod's own IP (DEVCLUSTER_POD_IP, a 127.x loopback
//   address), so that two replicas can both listen on :8080 as two pods can.
// - Cluster DNS: `svc`, `svc.ns`, `svc.ns.svc[.cluster.local]` and StatefulSet pod names
//   resolve from the table the kubelet keeps (DEVCLUSTER_DNS_FILE), with the pod's
//   namespace in the search path (DEVCLUSTER_POD_NAMESPACE).
// - Paths a program hard-codes (client-node's /var/run/secrets/kubernetes.io/serviceaccount)
//   open the pod's host folders (DEVCLUSTER_MOUNTS: [[containerPath, hostPath], ...]).
// Everything else about the process is untouched.

const podIp = process.env["DEVCLUSTER_POD_IP"];
const dnsFile = process.env["DEVCLUSTER_DNS_FILE"];
const namespace = process.env["DEVCLUSTER_POD_NAMESPACE"] ?? "default";
const mounts = (JSON.parse(process.env["DEVCLUSTER_MOUNTS"] ?? "[]") as [string, string][]).sort(
  (a, b) => b[0].length - a[0].length,
);
/**
 * Host paths are never mapped: the devcluster's data root (every pod folder lives there) and
 * the checkout the program itself runs from (its sources, node_modules and tsx), which may
 * lie under a path a pod mounts, as a clone in /tmp does under the pods' /tmp emptyDir.
 */
const hostRoots = [process.env["DEVCLUSTER_DATA_ROOT"], resolve(import.meta.dirname, "../../../..")].filter(
  (r): r is string => r !== undefined && r !== "" && r !== "/",
);
const readFileSync = fs.readFileSync;

const WILDCARD = new Set([undefined, null, "", "0.0.0.0", "::", "::0"]);

if (podIp) {
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    const [first] = args;
    if (first && typeof first === "object" && !Array.isArray(first) && "port" in (first as object)) {
      const o = first as net.ListenOptions;
      if (WILDCARD.has(o.host as string | undefined)) args[0] = { ...o, host: podIp };
    } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
      if (typeof args[1] !== "string" || WILDCARD.has(args[1])) {
        if (typeof args[1] === "string") args[1] = podIp;
        else args.splice(1, 0, podIp);
      }
    }
    return listen.apply(this, args as Parameters<typeof listen>) as net.Server;
  } as typeof listen;
}

function lookupCluster(host: string): string[] | undefined {
  if (!dnsFile || net.isIP(host)) return undefined;
  let table: Record<string, string[]>;
  try {
    table = JSON.parse(readFileSync(dnsFile, "utf8")) as Record<string, string[]>;
  } catch {
    return undefined;
  }
  const name = host.replace(/\.$/, "").toLowerCase();
  for (const candidate of [
    `${name}.${namespace}.svc.cluster.local`,
    `${name}.svc.cluster.local`,
    `${name}.cluster.local`,
    name,
  ]) {
    const ips = table[candidate];
    if (ips && ips.length > 0) return ips;
  }
  return undefined;
}

if (dnsFile) {
  const lookup = dns.lookup;
  dns.lookup = ((host: string, options: unknown, callback?: unknown) => {
    const cb = (typeof options === "function" ? options : callback) as (
      err: Error | null,
      address: unknown,
      family?: number,
    ) => void;
    const opts = (typeof options === "object" && options !== null ? options : {}) as dns.LookupOptions;
    const ips = lookupCluster(host);
    if (!ips) return (lookup as (...a: unknown[]) => void).call(dns, host, options, callback);
    process.nextTick(() =>
      opts.all
        ? cb(
            null,
            ips.map((address) => ({ address, family: 4 })),
          )
        : cb(null, ips[0], 4),
    );
    return undefined;
  }) as typeof dns.lookup;
  const plookup = dns.promises.lookup;
  dns.promises.lookup = (async (host: string, options?: dns.LookupOptions): Promise<unknown> => {
    const ips = lookupCluster(host);
    if (!ips) return (plookup as (h: string, o: dns.LookupOptions) => Promise<unknown>)(host, options ?? {});
    return options?.all ? ips.map((address) => ({ address, family: 4 })) : { address: ips[0]!, family: 4 };
  }) as unknown as typeof dns.promises.lookup;
}

function mapPath(p: unknown): unknown {
  if (typeof p !== "string" || mounts.length === 0) return p;
  if (hostRoots.some((root) => p === root || p.startsWith(`${root}/`))) return p;
  for (const [container, host] of mounts)
    if (p === container || p.startsWith(`${container}/`)) return host + p.slice(container.length);
  return p;
}

if (mounts.length > 0) {
  const target = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of [
    "accessSync",
    "existsSync",
    "readFileSync",
    "statSync",
    "lstatSync",
    "openSync",
    "readdirSync",
    "realpathSync",
    "access",
    "exists",
    "readFile",
    "stat",
    "lstat",
    "open",
    "readdir",
    "createReadStream",
    "watch",
    "watchFile",
  ]) {
    const original = target[name];
    if (typeof original !== "function") continue;
    target[name] = function (this: unknown, path: unknown, ...rest: unknown[]) {
      return original.call(this, mapPath(path), ...rest);
    };
  }
  const promises = fs.promises as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of ["access", "readFile", "stat", "lstat", "open", "readdir", "realpath"]) {
    const original = promises[name];
    if (typeof original !== "function") continue;
    promises[name] = function (this: unknown, path: unknown, ...rest: unknown[]) {
      return original.call(this, mapPath(path), ...rest);
    };
  }
}
syncBuiltinESMExports();
