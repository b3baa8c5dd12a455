import { decideStopWrite, foldJobName, StopDecision, stopDecisionPatch, type TrainingRun } from "@nnunet-operator/api";
import { type KubeObject, Resources, isConflict, isNotFound } from "@nnunet-operator/kube";
import { type CommandContext, readRun } from "../context.js";
import { type CliError, NotFoundError, RefusedError } from "../errors.js";

// `kubectl nnunet stop RUN --fold N`: a manual stop through the same path as the
// early-stop controller's (DESIGN.md, contracts): one merge patch on the fold's training
// Job `<run>-fold-<f>` that sets the stop-decision annotation (policy Manual) and
// spec.suspend true. The Job then ends its pod gracefully, and the operator records the
// fold as Converged and validates from checkpoint_best. A second stop changes nothing. What a
// decision, a malformed one and a finished Job are is packages/api's (fold-job.ts).

export const FIELD_MANAGER = "kubectl-nnunet";

interface JobLike extends KubeObject {
  spec?: { suspend?: boolean };
  status?: { conditions?: Array<{ type?: string; status?: string }> };
}

export type StopPlan =
  | { kind: "noop"; message: string }
  | { kind: "patch"; patch: Record<string, unknown>; decision: StopDecision | undefined; message: string }
  | { kind: "refused"; error: CliError };

export interface StopInput {
  run: TrainingRun;
  fold: string;
  job: JobLike | undefined;
  reason?: string | undefined;
  now: Date;
}

/** Decides the manual stop of one fold from the run's status and the fold's Job. Pure. */
export function decideManualStop({ run, fold, job, reason, now }: StopInput): StopPlan {
  const name = `${run.metadata.namespace}/${run.metadata.name}`;
  const runName = run.metadata.name ?? "";
  const jobName = foldJobName(runName, fold);
  if (!run.spec.folds.map(String).includes(fold)) {
    return {
      kind: "refused",
      error: new NotFoundError(
        `fold ${fold} is not a fold of TrainingRun ${name} (its folds: ${run.spec.folds.join(", ")}): pick one of those with --fold`,
      ),
    };
  }
  const write = job ? decideStopWrite(job) : undefined;
  const decided = write && !write.write && write.why === "decided" ? write.decision : undefined;
  if (job && decided) {
    const what = `fold ${fold} of TrainingRun ${name} already has a stop decision (${decided.policy} at epoch ${decided.epoch}, ${decided.decidedAt})`;
    if (job.spec?.suspend === true) return { kind: "noop", message: `${what}: nothing to do` };
    return {
      kind: "patch",
      patch: withVersion(job, { spec: { suspend: true } }),
      decision: undefined,
      message: `${what}; Job ${jobName} suspended again`,
    };
  }
  const status = run.status?.folds?.find((f) => f.fold === fold);
  const phase = status?.phase ?? "Pending";
  if (phase !== "Training") {
    const hint =
      phase === "Pending" || phase === "Queued"
        ? `it has not started; to hold the whole run: kubectl patch trainingrun ${runName} -n ${run.metadata.namespace} --type merge -p '{"spec":{"suspend":true}}'`
        : phase === "Restarting"
          ? "it is between attempts; try again once it trains"
          : "its training is already over";
    return {
      kind: "refused",
      error: new RefusedError(`fold ${fold} of TrainingRun ${name} is ${phase}, not Training: ${hint}`),
    };
  }
  if (!job) {
    return {
      kind: "refused",
      error: new NotFoundError(
        `training Job ${jobName} of fold ${fold} of TrainingRun ${name} not found, although the run's status says the fold trains: the operator may be replacing it; check kubectl get jobs -n ${run.metadata.namespace} -l nnunet-operator.io/run=${runName} and try again`,
      ),
    };
  }
  if (write && !write.write) {
    const how = job.status?.conditions?.find(
      (c) =>
        c.status === "True" && ["Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"].includes(c.type ?? ""),
    )?.type;
    return {
      kind: "refused",
      error: new RefusedError(
        `training Job ${jobName} of fold ${fold} of TrainingRun ${name} has already ended (${how}): nothing left to stop`,
      ),
    };
  }

  const decision = StopDecision.parse({
    epoch: status?.epoch ?? 0,
    policy: "Manual",
    reason: reason?.trim() || "stopped by kubectl nnunet stop",
    ...(status?.bestEpoch !== undefined && { bestEpoch: status.bestEpoch }),
    ...(status?.bestEma !== undefined && { bestEma: status.bestEma }),
    decidedAt: now.toISOString(),
  });
  const patch = stopDecisionPatch(decision, job.metadata.resourceVersion);
  const best =
    decision.bestEma !== undefined
      ? ` (best EMA ${decision.bestEma.toFixed(4)} at epoch ${decision.bestEpoch ?? "?"})`
      : "";
  const replaced = write?.write && write.replaces ? ` (replacing the Job's ${write.replaces})` : "";
  return {
    kind: "patch",
    patch,
    decision,
    message: `fold ${fold} of TrainingRun ${name}: stop requested at epoch ${decision.epoch}${best}; Job ${jobName} suspended${replaced}, the operator validates from checkpoint_best once the pod has ended`,
  };
}

/** The resourceVersion makes the patch fail with 409 if the Job changed since we read it. */
function withVersion(job: JobLike, patch: Record<string, unknown>): Record<string, unknown> {
  const metadata = { ...((patch.metadata as object | undefined) ?? {}), resourceVersion: job.metadata.resourceVersion };
  return { ...patch, metadata };
}

const ATTEMPTS = 3;

export async function stopCommand(
  ctx: CommandContext,
  runName: string,
  fold: string,
  reason: string | undefined,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const run = await readRun(ctx, runName);
    const namespace = run.metadata.namespace as string;
    const key = { namespace, name: foldJobName(runName, fold) };
    let job: JobLike | undefined;
    try {
      job = await ctx.port.get<JobLike>(Resources.jobs, key);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const plan = decideManualStop({ run, fold, job, reason, now: ctx.now() });
    if (plan.kind === "refused") throw plan.error;
    if (plan.kind === "noop") {
      ctx.stdout.write(`${plan.message}\n`);
      return 0;
    }
    try {
      await ctx.port.patch(Resources.jobs, key, plan.patch, { type: "merge", fieldManager: FIELD_MANAGER });
    } catch (err) {
      // Someone (the early-stop controller, another stop) changed the Job: decide again.
      if (isConflict(err) && attempt < ATTEMPTS) continue;
      throw err;
    }
    ctx.stdout.write(`${plan.message}\n`);
    return 0;
  }
}
