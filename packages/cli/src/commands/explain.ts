import { writeFile } from "node:fs/promises";
import { epochSubject } from "@nnunet-operator/bus";
import type { StreamFlags } from "../args.js";
import { type CommandContext, readRun } from "../context.js";
import { foldCurves } from "../curves/fold-curves.js";
import { NotFoundError } from "../errors.js";
import { DEFAULT_NATS_URL, readStoredEpochs, type StreamAccess } from "../stream.js";
import { renderExplainSvg } from "../view/explain-svg.js";
import { type ExplainInput, renderExplainText } from "../view/explain.js";

// `kubectl nnunet explain RUN --fold N [--output FILE.svg]`: the fold's stop decision (or
// would-be decision of an audit) from the run's status, its epochs from the stream, drawn.

export function streamAccess(flags: StreamFlags, env: Readonly<Record<string, string | undefined>>): StreamAccess {
  return {
    natsUrl: flags.nats ?? env["NATS_URL"] ?? DEFAULT_NATS_URL,
    credsFile: flags.creds,
    credsSecret: flags.credsSecret,
  };
}

export async function explainCommand(
  ctx: CommandContext,
  env: Readonly<Record<string, string | undefined>>,
  runName: string,
  fold: string,
  output: string | undefined,
  flags: StreamFlags,
): Promise<number> {
  const run = await readRun(ctx, runName);
  const namespace = run.metadata.namespace ?? "default";
  if (!run.spec.folds.map(String).includes(fold)) {
    throw new NotFoundError(
      `TrainingRun ${namespace}/${runName} has no fold ${fold}: its folds are ${run.spec.folds.join(", ")}`,
    );
  }
  const status = run.status?.folds?.find((f) => f.fold === fold);
  const messages = await readStoredEpochs(
    streamAccess(flags, env),
    ctx.port,
    namespace,
    epochSubject({ namespace, run: runName, fold }),
    ctx.signal,
  );
  const curve = foldCurves(messages).find((c) => c.runUid === run.metadata.uid);
  const input: ExplainInput = {
    run: runName,
    fold,
    points: curve?.epochs ?? [],
    maxEpochs: status?.maxEpochs ?? run.status?.calibration?.effectiveMaxEpochs ?? run.spec.schedule.maxEpochs,
    phase: status?.phase ?? "Pending",
    decision: status?.stopDecision,
    audit: status?.audit,
  };
  if (curve === undefined)
    ctx.stderr.write(
      `no epochs of fold ${fold} on the stream (not started yet, or older than the stream's retention)\n`,
    );
  if (output !== undefined) {
    await writeFile(output, renderExplainSvg(input));
    ctx.stdout.write(`wrote ${output}\n`);
    return 0;
  }
  const columns = ctx.stdout.columns;
  ctx.stdout.write(
    renderExplainText(input, {
      width: columns !== undefined ? Math.max(20, Math.min(72, columns - 10)) : 72,
      height: 16,
    }),
  );
  return 0;
}
