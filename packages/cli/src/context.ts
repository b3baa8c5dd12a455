import { TrainingRun, formatFieldErrors, fieldErrors } from "@nnunet-operator/api";
import {
  type KubeObject,
  type KubePort,
  type KubeApiError,
  Resources,
  isNotFound,
  resourceName,
} from "@nnunet-operator/kube";
import { CliError, NotFoundError } from "./errors.js";

// What every command gets: the port, the namespace, where to write, the clock and the
// signal that Ctrl-C aborts. Built in cli.ts; tests build it directly.

export interface Output {
  write(text: string): unknown;
  isTTY?: boolean | undefined;
  columns?: number | undefined;
  rows?: number | undefined;
  /** A TTY's "resize" event (process.stdout has it): the live view redraws from scratch. */
  on?(event: "resize", listener: () => void): unknown;
  off?(event: "resize", listener: () => void): unknown;
}

export interface CommandContext {
  port: KubePort;
  /** undefined with -A. */
  namespace: string | undefined;
  stdout: Output;
  stderr: Output;
  now: () => Date;
  signal: AbortSignal;
}

/** Validates what the server sent: a run that does not parse is reported, never half-shown. */
export function parseRun(object: KubeObject): TrainingRun {
  const parsed = TrainingRun.safeParse(object);
  if (parsed.success) return parsed.data;
  const where = `${object.metadata.namespace ?? "?"}/${object.metadata.name ?? "?"}`;
  throw new CliError(
    `TrainingRun ${where} does not match the API this plugin knows (${formatFieldErrors(fieldErrors(parsed.error))}): update kubectl-nnunet to the operator's version`,
  );
}

/** A run by name in the namespace, or found across namespaces with -A (it must be unique there). */
export async function readRun(ctx: CommandContext, name: string): Promise<TrainingRun> {
  if (ctx.namespace === undefined) {
    const all = await ctx.port.list(Resources.trainingRuns, { fieldSelector: `metadata.name=${name}` });
    const [first, ...more] = all.items;
    if (!first)
      throw new NotFoundError(
        `TrainingRun "${name}" not found in any namespace: list runs with kubectl nnunet status -A`,
      );
    if (more.length > 0) {
      const namespaces = all.items.map((r) => r.metadata.namespace).join(", ");
      throw new CliError(
        `TrainingRun "${name}" exists in several namespaces (${namespaces}): pick one with -n NAMESPACE`,
        2,
      );
    }
    return parseRun(first);
  }
  try {
    return parseRun(await ctx.port.get(Resources.trainingRuns, { namespace: ctx.namespace, name }));
  } catch (err) {
    if (isNotFound(err))
      throw new NotFoundError(
        `TrainingRun "${name}" not found in namespace "${ctx.namespace}": list runs with kubectl nnunet status -n ${ctx.namespace}, or look in every namespace with -A`,
        { cause: err },
      );
    throw err;
  }
}

/** API failures in words: what failed and, for the common cases, what to do. */
export function describeApiError(err: KubeApiError): string {
  const what = `${err.verb ?? "request"} ${err.resource ?? ""}`.trim();
  const message = err.status?.message ?? err.message;
  if (err.code === 0)
    return `cannot reach the API server: ${err.message}; check the kubeconfig's server and that the cluster is up`;
  if (err.code === 404 && err.verb === "list" && err.resource === resourceName(Resources.trainingRuns)) {
    return "this cluster does not serve TrainingRuns: install nnunet-operator (its chart, or kubectl apply -f crds/) or pick another --context";
  }
  if (err.code === 401)
    return `the API server did not accept the credentials (${what}): refresh them in the kubeconfig`;
  if (err.code === 403) return `not allowed to ${what}: ${message}`;
  return `${what} failed (${err.code} ${err.reason}): ${message}`;
}
