import type { FoldStatus, TrainingRun } from "@nnunet-operator/api";
import { Resources } from "@nnunet-operator/kube";
import { type CommandContext, parseRun, readRun } from "../context.js";
import { age, dice, gpuFigures, gpuHours, runPredictedFinish, table, until } from "../view/format.js";
import { foldNote } from "../view/render.js";

// `kubectl nnunet status [RUN]`: one line per run, or one table row per fold of RUN. The
// run's figures are the ones `kubectl get tr` shows (status.summary), read, not recounted.

export function formatRunList(runs: readonly TrainingRun[], now: Date, withNamespace: boolean): string {
  if (runs.length === 0) return "";
  const header = [
    ...(withNamespace ? ["NAMESPACE"] : []),
    "NAME",
    "PHASE",
    "FOLDS",
    "EPOCHS",
    "BEST-EMA",
    "BATCH",
    "GPU-H",
    "SAVED",
    "QUEUE",
    "ETA",
    "AGE",
  ];
  const rows = [...runs]
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
    )
    .map((run) => {
      const s = run.status;
      const queue = s?.queue?.position !== undefined ? `#${s.queue.position} ${s.queue.reason ?? ""}`.trim() : "-";
      return [
        ...(withNamespace ? [run.metadata.namespace ?? ""] : []),
        run.metadata.name ?? "",
        s?.phase ?? "Pending",
        s?.summary?.folds ?? `0/${run.spec.folds.length}`,
        s?.summary?.epochs ?? "-",
        dice(s?.summary?.bestEma),
        s?.calibration?.batchSize !== undefined ? String(s.calibration.batchSize) : "-",
        s?.summary?.gpuHours !== undefined ? s.summary.gpuHours.toFixed(1) : "-",
        s?.summary?.saved ?? "-",
        queue,
        eta(run, now),
        age(run.metadata.creationTimestamp, now),
      ];
    });
  return `${table(header, rows).join("\n")}\n`;
}

/** A queued run's estimated start, else when its last training fold is predicted to finish. */
function eta(run: TrainingRun, now: Date): string {
  const start = run.status?.queue?.estimatedStartAt;
  if (run.status?.queue?.position !== undefined && start !== undefined) return `start ${until(start, now)}`;
  const finish = runPredictedFinish(run.status?.folds);
  return finish === undefined ? "-" : `end ${until(finish, now)}`;
}

/** Folds the spec asks for that status does not list yet show as Pending. */
function foldsOf(run: TrainingRun): FoldStatus[] {
  const listed = new Map((run.status?.folds ?? []).map((f) => [f.fold, f]));
  for (const fold of run.spec.folds.map(String))
    if (!listed.has(fold)) listed.set(fold, { fold, phase: "Pending", attempt: 0 });
  return [...listed.values()].sort((a, b) => a.fold.localeCompare(b.fold));
}

function result(fold: FoldStatus): string {
  const parts: string[] = [];
  if (fold.audit) parts.push(auditText(fold.audit));
  else if (fold.stopDecision)
    parts.push(`stopped @${fold.stopDecision.epoch} by ${fold.stopDecision.policy}: ${fold.stopDecision.reason}`);
  if (fold.validation)
    parts.push(`validation Dice ${dice(fold.validation.meanDice)} (checkpoint_${fold.validation.checkpoint})`);
  if (parts.length === 0) return foldNote(fold) || "-";
  return parts.join("; ");
}

/** An audited fold: the would-be stop and, once it has ended, its cost and saving. */
export function auditText(a: NonNullable<FoldStatus["audit"]>): string {
  const head = `audit: would have stopped @${a.stopEpoch} by ${a.policy}`;
  if (a.epochsSaved === undefined) return head;
  const dice =
    a.validation?.meanDiceLost !== undefined ? `, validation Dice ${signedDice(a.validation.meanDiceLost)}` : "";
  return `${head}, costing best EMA ${dice4(a.bestEmaLost)}${dice}, saving ${a.epochsSaved} epochs, ${gpuHours(a.gpuSecondsSaved)} GPU-h`;
}
const dice4 = (v: number | undefined): string => (v === undefined ? "-" : v.toFixed(4));
const signedDice = (v: number): string => (v < 0 ? `-${(-v).toFixed(4)}` : v.toFixed(4));

export function formatFoldTable(run: TrainingRun, now: Date): string {
  const s = run.status;
  const lines = [
    `TrainingRun ${run.metadata.namespace}/${run.metadata.name}: ${s?.phase ?? "Pending"} (${run.spec.dataset} ${run.spec.configuration}, age ${age(run.metadata.creationTimestamp, now)})`,
  ];
  const failed = s?.conditions?.find((c) => c.type === "Failed" && c.status === "True");
  if (failed) lines.push(`Failed: ${failed.reason}: ${failed.message ?? ""}`);
  const q = s?.queue;
  if (q?.position !== undefined || q?.reason)
    lines.push(
      `Queue: ${q.position !== undefined ? `#${q.position} in ` : ""}${run.spec.queue}${q.reason ? `, ${q.reason}` : ""}${q.message ? `: ${q.message}` : ""}${q.estimatedStartAt ? `; estimated start ${until(q.estimatedStartAt, now)} (${q.estimatedStartAt})` : ""}`,
    );
  const c = s?.calibration;
  if (c?.batchSize !== undefined) {
    const extras = [
      c.samplesPerSecond !== undefined ? `${c.samplesPerSecond.toFixed(1)} samples/s` : "",
      c.gpuProduct ?? "",
      c.effectiveMaxEpochs !== undefined ? `${c.effectiveMaxEpochs} epochs planned` : "",
    ].filter(Boolean);
    lines.push(
      `Calibration: batch ${c.batchSize} (${c.source ?? "?"}${c.plansBatchSize !== undefined ? `, plans ${c.plansBatchSize}` : ""})${extras.length ? `, ${extras.join(", ")}` : ""}`,
    );
  }
  const gpu = gpuFigures(s);
  if (gpu) lines.push(gpu);
  const audit = s?.audit;
  if (audit) {
    const dice =
      audit.meanDiceLost !== undefined ? `, mean validation Dice given up ${signedDice(audit.meanDiceLost)}` : "";
    lines.push(
      `Audits: ${audit.folds} fold(s) trained on past the would-be stop: mean best EMA given up ${dice4(audit.meanBestEmaLost)}${dice}, GPU-hours the stops would have saved ${gpuHours(audit.gpuSecondsSaved)}`,
    );
  }
  lines.push("");
  const rows = foldsOf(run).map((f) => [
    f.fold,
    f.phase,
    String(f.attempt),
    `${f.epoch ?? "-"}/${f.maxEpochs ?? "?"}`,
    dice(f.latestEma),
    f.bestEma !== undefined ? `${dice(f.bestEma)} @${f.bestEpoch ?? "?"}` : "-",
    f.batchSize !== undefined ? String(f.batchSize) : "-",
    f.node ?? "-",
    gpuHours(f.gpuSecondsUsed),
    f.predictedFinishAt !== undefined ? until(f.predictedFinishAt, now) : "-",
    result(f),
  ]);
  lines.push(
    ...table(
      ["FOLD", "PHASE", "ATTEMPT", "EPOCH", "EMA", "BEST-EMA", "BATCH", "NODE", "GPU-H", "FINISH", "STOP/VALIDATION"],
      rows,
    ),
  );
  return `${lines.join("\n")}\n`;
}

export async function statusCommand(ctx: CommandContext, run: string | undefined): Promise<number> {
  if (run !== undefined) {
    ctx.stdout.write(formatFoldTable(await readRun(ctx, run), ctx.now()));
    return 0;
  }
  const list = await ctx.port.list(Resources.trainingRuns, { namespace: ctx.namespace });
  const runs = list.items.map(parseRun);
  if (runs.length === 0) {
    ctx.stderr.write(
      ctx.namespace === undefined
        ? "No TrainingRuns found in any namespace.\n"
        : `No TrainingRuns found in namespace "${ctx.namespace}" (look in every namespace with -A).\n`,
    );
    return 0;
  }
  ctx.stdout.write(formatRunList(runs, ctx.now(), ctx.namespace === undefined));
  return 0;
}
