// Runs helm and kubectl (the static binaries scripts/setup.sh puts in .tools/bin) and parses
// what they print. Shared by the chart tests and scripts/gen-deploy.ts.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";

export const repoRoot = resolve(import.meta.dirname, "../..");
export const chartDir = join(repoRoot, "charts/nnunet-operator");
export const RELEASE = "nnunet-operator";
export const NAMESPACE = "nnunet-system";

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export class ToolError extends Error {
  override readonly name = "ToolError";
  constructor(
    message: string,
    readonly status: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

function tool(name: "helm" | "kubectl"): string {
  const local = join(repoRoot, ".tools/bin", name);
  return existsSync(local) ? local : name;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(name: "helm" | "kubectl", args: readonly string[]): RunResult {
  const result = spawnSync(tool(name), args, { cwd: repoRoot, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw new ToolError(`${name} did not run: ${result.error.message}`, null, "");
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function runOk(name: "helm" | "kubectl", args: readonly string[]): string {
  const result = run(name, args);
  if (result.status !== 0)
    throw new ToolError(`${name} ${args.join(" ")} failed: ${result.stderr}`, result.status, result.stderr);
  return result.stdout;
}

export interface RenderOptions {
  /** Values files, relative to the repository root. */
  valuesFiles?: readonly string[];
  set?: Readonly<Record<string, string>>;
  includeCrds?: boolean;
  release?: string;
  namespace?: string;
}

export function templateArgs(options: RenderOptions = {}): string[] {
  // `helm test` hooks are not installed objects (the install-lifecycle e2e test runs them).
  const args = [
    "template",
    options.release ?? RELEASE,
    chartDir,
    "--namespace",
    options.namespace ?? NAMESPACE,
    "--skip-tests",
  ];
  if (options.includeCrds) args.push("--include-crds");
  for (const file of options.valuesFiles ?? []) args.push("--values", join(repoRoot, file));
  for (const [key, value] of Object.entries(options.set ?? {})) args.push("--set", `${key}=${value}`);
  return args;
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`unparsable manifest: ${doc.errors[0]?.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === "object");
}

/** `helm template` of the chart, parsed. Throws ToolError when helm refuses. */
export function renderChart(options: RenderOptions = {}): K8sObject[] {
  return parseManifests(runOk("helm", templateArgs(options)));
}

export const objectKey = (o: K8sObject): string =>
  `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;

export function byKey(objects: readonly K8sObject[]): Map<string, K8sObject> {
  const map = new Map<string, K8sObject>();
  for (const o of objects) {
    const key = objectKey(o);
    if (map.has(key)) throw new Error(`rendered twice: ${key}`);
    map.set(key, o);
  }
  return map;
}

export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map(objectKey).join(", ")}`);
  return found;
}
