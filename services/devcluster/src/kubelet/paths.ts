import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { KubeObject } from "../api/resources.js";
import { resourceFieldValue, type ContainerResources } from "./resource-field.js";

// Where a pod's volumes live on the host, and how a container's view of the file system
// maps onto it. A process cannot get a mount namespace here, so every container path a
// program is told about (env values, command and args) is rewritten to its host folder:
// with `/nnunet/results` mounted from the claim's `results` subPath, the value
// `/nnunet/results/Dataset003_Liver` becomes `<dataRoot>/pvc/<ns>/<claim>/results/Dataset003_Liver`.
// Paths a program builds itself from a rewritten value are then host paths too.
//
//   persistentVolumeClaim  <dataRoot>/pvc/<namespace>/<claim>
//   hostPath               <dataRoot>/hostpath/<path>
//   emptyDir (any medium)  <dataRoot>/pods/<uid>/volumes/<name>
//   configMap, secret      <dataRoot>/pods/<uid>/volumes/<name>/<key or item path> (written at start)
//   terminationMessagePath <dataRoot>/pods/<uid>/termination/<container>  (also $TERMINATION_MESSAGE_PATH)

type Obj = Record<string, unknown>;

export interface VolumeSource {
  name: string;
  persistentVolumeClaim?: { claimName: string };
  hostPath?: { path: string };
  emptyDir?: { medium?: string };
  configMap?: { name: string; items?: { key: string; path: string }[]; optional?: boolean };
  secret?: { secretName: string; items?: { key: string; path: string }[]; optional?: boolean };
  /** A projected volume's ConfigMap and Secret sources, written into one folder (the chart mounts the NATS auth keys so). */
  projected?: { sources?: ProjectedSource[] };
}

export interface ProjectedSource {
  configMap?: { name: string; items?: { key: string; path: string }[]; optional?: boolean };
  secret?: { name: string; items?: { key: string; path: string }[]; optional?: boolean };
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
}

export interface Lookups {
  configMap(namespace: string, name: string): KubeObject | undefined;
  secret(namespace: string, name: string): KubeObject | undefined;
  claim(namespace: string, name: string): KubeObject | undefined;
}

export class MountError extends Error {
  override readonly name = "MountError";
}

export const podDir = (dataRoot: string, uid: string) => join(dataRoot, "pods", uid);
export const claimDir = (dataRoot: string, namespace: string, claim: string) => join(dataRoot, "pvc", namespace, claim);

/** What one configMap or secret source projects into a volume. */
interface Projection {
  readonly volume: string;
  readonly kind: "configmap" | "secret";
  readonly data: Record<string, Buffer>;
  readonly items: { key: string; path: string }[] | undefined;
  readonly optional: boolean | undefined;
}

/**
 * Writes a projection's files. An item naming a key the object lacks fails the mount, as the
 * kubelet's configmap and secret volume plugins do, unless the source is optional (then the
 * file is left out).
 */
function writeItems(dir: string, p: Projection): void {
  mkdirSync(dir, { recursive: true });
  const pairs = p.items ? p.items.map((i) => [i.path, p.data[i.key], i.key] as const) : Object.entries(p.data);
  for (const [path, value, key] of pairs) {
    if (value === undefined) {
      if (p.optional) continue;
      const what =
        p.kind === "configmap" ? "configmap references non-existent config key" : "references non-existent secret key";
      throw new MountError(`MountVolume.SetUp failed for volume "${p.volume}" : ${what}: ${key}`);
    }
    const file = resolve(dir, path);
    mkdirSync(resolve(file, ".."), { recursive: true });
    writeFileSync(file, value);
  }
}

/**
 * A ConfigMap's or Secret's keys as file contents: a ConfigMap's binaryData and a Secret's
 * data are base64, a ConfigMap's data and a Secret's stringData plain text. Throws MountError
 * when the object is missing and not optional.
 */
function sourceData(
  kind: Projection["kind"],
  volume: string,
  ns: string,
  name: string,
  optional: boolean | undefined,
  lookups: Lookups,
): Record<string, Buffer> {
  const o = kind === "configmap" ? lookups.configMap(ns, name) : lookups.secret(ns, name);
  if (!o && !optional)
    throw new MountError(`MountVolume.SetUp failed for volume "${volume}" : ${kind} "${name}" not found`);
  const [encoded, plain] = kind === "configmap" ? ["binaryData", "data"] : ["data", "stringData"];
  const field = (f: string) => Object.entries((o?.[f] as Record<string, string> | undefined) ?? {});
  const data: Record<string, Buffer> = {};
  for (const [k, val] of field(encoded)) data[k] = Buffer.from(val, "base64");
  for (const [k, val] of field(plain)) data[k] = Buffer.from(val);
  return data;
}

/** Host folder of each volume; writes configMap and secret files. Throws MountError as FailedMount would say it. */
export function prepareVolumes(pod: KubeObject, dataRoot: string, lookups: Lookups): Map<string, string> {
  const ns = pod.metadata.namespace!;
  const volumes = ((pod["spec"] as Obj)["volumes"] as VolumeSource[] | undefined) ?? [];
  const out = new Map<string, string>();
  for (const v of volumes) {
    const own = join(podDir(dataRoot, pod.metadata.uid!), "volumes", v.name);
    if (v.persistentVolumeClaim) {
      const claim = lookups.claim(ns, v.persistentVolumeClaim.claimName);
      if (!claim) throw new MountError(`persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" not found`);
      out.set(v.name, claimDir(dataRoot, ns, v.persistentVolumeClaim.claimName));
    } else if (v.hostPath) out.set(v.name, join(dataRoot, "hostpath", v.hostPath.path));
    else if (v.configMap) {
      const { name, items, optional } = v.configMap;
      const data = sourceData("configmap", v.name, ns, name, optional, lookups);
      writeItems(own, { volume: v.name, kind: "configmap", data, items, optional });
      out.set(v.name, own);
    } else if (v.secret) {
      const { secretName, items, optional } = v.secret;
      const data = sourceData("secret", v.name, ns, secretName, optional, lookups);
      writeItems(own, { volume: v.name, kind: "secret", data, items, optional });
      out.set(v.name, own);
    } else if (v.projected) {
      for (const src of v.projected.sources ?? []) {
        if (src.secret) {
          const { name, items, optional } = src.secret;
          const data = sourceData("secret", v.name, ns, name, optional, lookups);
          writeItems(own, { volume: v.name, kind: "secret", data, items, optional });
        }
        if (src.configMap) {
          const { name, items, optional } = src.configMap;
          const data = sourceData("configmap", v.name, ns, name, optional, lookups);
          writeItems(own, { volume: v.name, kind: "configmap", data, items, optional });
        }
      }
      out.set(v.name, own);
    } else out.set(v.name, own);
  }
  for (const dir of out.values()) mkdirSync(dir, { recursive: true });
  return out;
}

export interface MountEntry {
  containerPath: string;
  hostPath: string;
}

/** The container's mounts as host folders, longest container path first (so nested mounts win). */
export function mountTable(
  mounts: readonly VolumeMount[] | undefined,
  volumes: ReadonlyMap<string, string>,
  extra: readonly MountEntry[] = [],
): MountEntry[] {
  const table: MountEntry[] = [...extra];
  for (const m of mounts ?? []) {
    const base = volumes.get(m.name);
    if (base === undefined)
      throw new MountError(`volume "${m.name}" of mount ${m.mountPath} is not defined in the pod`);
    const hostPath = m.subPath ? join(base, m.subPath) : base;
    mkdirSync(hostPath, { recursive: true });
    table.push({ containerPath: m.mountPath.replace(/\/+$/, "") || "/", hostPath });
  }
  return table.sort((a, b) => b.containerPath.length - a.containerPath.length);
}

/**
 * Rewrites every container path in `s` (not inside a longer path or name) to its host path,
 * in one pass: a host path put in is never rewritten again (a `/tmp` mount must not touch
 * the host path of another mount that happens to lie under /tmp).
 */
export function rewritePaths(s: string, table: readonly MountEntry[]): string {
  const entries = table.filter((e) => e.containerPath !== "/");
  if (entries.length === 0 || !s.includes("/")) return s;
  const byPath = new Map(entries.map((e) => [e.containerPath, e.hostPath]));
  const alternation = [...byPath.keys()]
    .sort((a, b) => b.length - a.length)
    .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join("|");
  return s.replace(
    new RegExp(`(^|[^A-Za-z0-9_.~/-])(${alternation})(?![A-Za-z0-9_.~-])`, "g"),
    (_m, pre: string, path: string) => `${pre}${byPath.get(path)}`,
  );
}

/** Kubernetes' $(VAR) expansion: known variables expand, unknown ones stay as written, $$ escapes. */
export function expandVars(s: string, env: Readonly<Record<string, string>>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) =>
    name === undefined ? "$" : (env[name] ?? m),
  );
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    resourceFieldRef?: { resource: string; divisor?: string };
  };
}

interface EnvFrom {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface EnvContext {
  podIp?: string;
  /** The node's allocatable resources: what resourceFieldRef reports for a limit not set. */
  allocatable?: Record<string, string>;
}

function fieldRef(pod: KubeObject, path: string, ctx: EnvContext): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return pod.metadata[m[1] as "labels" | "annotations"]?.[m[2]!] ?? "";
  const map: Record<string, string | undefined> = {
    "metadata.name": pod.metadata.name,
    "metadata.namespace": pod.metadata.namespace,
    "metadata.uid": pod.metadata.uid,
    "spec.nodeName": (pod["spec"] as Obj)["nodeName"] as string | undefined,
    "spec.serviceAccountName": (pod["spec"] as Obj)["serviceAccountName"] as string | undefined,
    "status.podIP": ctx.podIp ?? "127.0.0.1",
    "status.podIPs": ctx.podIp ?? "127.0.0.1",
    "status.hostIP": "127.0.0.1",
  };
  return map[path] ?? "";
}

/** The container's environment in declaration order (envFrom first), with $(VAR) expansion. */
export function containerEnv(
  pod: KubeObject,
  container: { env?: EnvVar[]; envFrom?: EnvFrom[]; resources?: ContainerResources },
  lookups: Lookups,
  ctx: EnvContext = {},
): Record<string, string> {
  const ns = pod.metadata.namespace!;
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const cm = from.configMapRef ? lookups.configMap(ns, from.configMapRef.name) : undefined;
    const sec = from.secretRef ? lookups.secret(ns, from.secretRef.name) : undefined;
    if (from.configMapRef && !cm && !from.configMapRef.optional)
      throw new MountError(`configmap "${from.configMapRef.name}" not found`);
    if (from.secretRef && !sec && !from.secretRef.optional)
      throw new MountError(`secret "${from.secretRef.name}" not found`);
    for (const [k, v] of Object.entries((cm?.["data"] as Record<string, string> | undefined) ?? {}))
      env[`${from.prefix ?? ""}${k}`] = v;
    for (const [k, v] of Object.entries((sec?.["data"] as Record<string, string> | undefined) ?? {}))
      env[`${from.prefix ?? ""}${k}`] = Buffer.from(v, "base64").toString();
  }
  for (const e of container.env ?? []) {
    const from = e.valueFrom;
    if (!from) env[e.name] = expandVars(e.value ?? "", env);
    else if (from.fieldRef) env[e.name] = fieldRef(pod, from.fieldRef.fieldPath, ctx);
    else if (from.configMapKeyRef) {
      const cm = lookups.configMap(ns, from.configMapKeyRef.name);
      if (!cm && !from.configMapKeyRef.optional)
        throw new MountError(`configmap "${from.configMapKeyRef.name}" not found`);
      const v = (cm?.["data"] as Record<string, string> | undefined)?.[from.configMapKeyRef.key];
      if (v === undefined && !from.configMapKeyRef.optional)
        throw new MountError(
          `couldn't find key ${from.configMapKeyRef.key} in ConfigMap ${ns}/${from.configMapKeyRef.name}`,
        );
      if (v !== undefined) env[e.name] = v;
    } else if (from.secretKeyRef) {
      const sec = lookups.secret(ns, from.secretKeyRef.name);
      if (!sec && !from.secretKeyRef.optional) throw new MountError(`secret "${from.secretKeyRef.name}" not found`);
      const v = (sec?.["data"] as Record<string, string> | undefined)?.[from.secretKeyRef.key];
      if (v === undefined && !from.secretKeyRef.optional)
        throw new MountError(`couldn't find key ${from.secretKeyRef.key} in Secret ${ns}/${from.secretKeyRef.name}`);
      if (v !== undefined) env[e.name] = Buffer.from(v, "base64").toString();
    } else if (from.resourceFieldRef)
      env[e.name] = resourceFieldValue(container.resources, from.resourceFieldRef, ctx.allocatable ?? {});
  }
  return env;
}
