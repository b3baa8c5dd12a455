import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { KubeObject } from "../api/resources.js";
import { rewriteConfigFiles } from "./config-files.js";
import { tailText } from "./logs.js";
import {
  containerEnv,
  expandVars,
  mountTable,
  rewritePaths,
  type EnvContext,
  type Lookups,
  type MountEntry,
  type VolumeMount,
  type VolumeSource,
} from "./paths.js";
import type { ContainerResources } from "./resource-field.js";

// What a container starts with (argv, env, working directory, all container paths rewritten
// to the pod's host folders) and what it leaves (its termination message), for PodRunner.

export interface ResolvedCommand {
  argv: string[];
  prefix: number;
  /** argv indices at or past prefix that are local files the image ships: not rewritten. */
  local?: number[];
  env: Record<string, string>;
  configFlags?: string[];
  /** The image's USER, from the image map. */
  user?: string;
}

/** A container the kubelet refuses to create from its configuration (CreateContainerConfigError). */
export class ContainerConfigError extends Error {
  override readonly name = "ContainerConfigError";
}

interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
}

/**
 * The kubelet's verifyRunAsNonRoot: with runAsNonRoot (container over pod) and no runAsUser,
 * an image whose user is root, or a name it cannot check, is refused, in the kubelet's words.
 */
export function runAsNonRootRefusal(
  pod: KubeObject,
  c: { name: string; securityContext?: SecurityContext },
  imageUser: string | undefined,
): string | undefined {
  const podSc = ((pod["spec"] as { securityContext?: SecurityContext }).securityContext ?? {}) as SecurityContext;
  const nonRoot = c.securityContext?.runAsNonRoot ?? podSc.runAsNonRoot;
  if (!nonRoot) return undefined;
  const where = `(pod: "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})", container: ${c.name})`;
  const runAsUser = c.securityContext?.runAsUser ?? podSc.runAsUser;
  if (runAsUser !== undefined)
    return runAsUser === 0 ? `container's runAsUser breaks non-root policy ${where}` : undefined;
  if (imageUser === undefined) return undefined;
  const uid = /^\d+/.exec(imageUser)?.[0];
  if (uid !== undefined)
    return Number(uid) === 0 ? `container has runAsNonRoot and image will run as root ${where}` : undefined;
  return `container has runAsNonRoot and image has non-numeric user (${imageUser}), cannot verify user is non-root ${where}`;
}

export interface PreparedContainer {
  env: Record<string, string>;
  argv: string[];
  cwd: string;
}

export interface StartContext extends EnvContext {
  volumes: ReadonlyMap<string, string>;
  podFolder: string;
  baseEnv: Record<string, string>;
  extraMounts: MountEntry[];
  lookups: Lookups;
}

interface StartSpec {
  name: string;
  securityContext?: SecurityContext;
  env?: [];
  envFrom?: [];
  workingDir?: string;
  volumeMounts?: VolumeMount[];
  resources?: ContainerResources;
  terminationMessagePath?: string;
  terminationMessagePolicy?: string;
}

export function prepareContainer(
  pod: KubeObject,
  c: StartSpec,
  r: ResolvedCommand,
  msgFile: string,
  ctx: StartContext,
): PreparedContainer {
  const refusal = runAsNonRootRefusal(pod, c, r.user);
  if (refusal) throw new ContainerConfigError(refusal);
  const table = mountTable(c.volumeMounts, ctx.volumes, [
    { containerPath: c.terminationMessagePath ?? "/dev/termination-log", hostPath: msgFile },
    ...ctx.extraMounts,
  ]);
  const own = containerEnv(pod, c, ctx.lookups, {
    ...(ctx.podIp !== undefined ? { podIp: ctx.podIp } : {}),
    ...(ctx.allocatable ? { allocatable: ctx.allocatable } : {}),
  });
  // The pod shim (pod-shim.ts) maps paths a program hard-codes through the same table.
  const mounts = JSON.stringify(table.map((m) => [m.containerPath, m.hostPath]));
  const env: Record<string, string> = {
    ...ctx.baseEnv,
    TERMINATION_MESSAGE_PATH: msgFile,
    NNUNET_TERMINATION_MESSAGE_PATH: msgFile,
    DEVCLUSTER_MOUNTS: mounts,
  };
  // The image map's own values (its env, the files the image ships) are local paths already:
  // rewriting them would map a checkout that lies under a mounted path (a clone in /tmp).
  Object.assign(env, r.env);
  for (const [k, v] of Object.entries(own)) env[k] = rewritePaths(v, table);
  const argv = r.argv.map((a, i) =>
    i < r.prefix || r.local?.includes(i) ? a : rewritePaths(expandVars(a, own), table),
  );
  rewriteConfigFiles(argv, r.configFlags ?? [], table, join(ctx.podFolder, "config", c.name));
  const cwd = c.workingDir ? rewritePaths(c.workingDir, table) : join(ctx.podFolder, "root");
  mkdirSync(cwd, { recursive: true });
  return { env, argv, cwd };
}

export function terminationMessage(c: StartSpec, msgFile: string, logFile: string, code: number): string | undefined {
  let text = "";
  try {
    text = readFileSync(msgFile, "utf8").slice(0, 4096);
  } catch {
    // No file: fall through to the logs when allowed.
  }
  if (!text && code !== 0 && c.terminationMessagePolicy === "FallbackToLogsOnError") text = tailText(logFile, 80, 2048);
  return text || undefined;
}

/** The pod mounts this ConfigMap or Secret as a volume (its files follow changes). */
export function usesVolumeSource(
  pod: KubeObject,
  kind: "configMap" | "secret",
  namespace: string,
  name: string,
): boolean {
  if (pod.metadata.namespace !== namespace) return false;
  const volumes = (pod["spec"] as { volumes?: VolumeSource[] }).volumes ?? [];
  const projected = (v: VolumeSource): boolean =>
    (v.projected?.sources ?? []).some((s) =>
      kind === "configMap" ? s.configMap?.name === name : s.secret?.name === name,
    );
  return volumes.some(
    (v) => (kind === "configMap" ? v.configMap?.name === name : v.secret?.secretName === name) || projected(v),
  );
}
