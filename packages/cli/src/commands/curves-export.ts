import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ALL_EPOCHS, namespaceEpochsFilter, runEpochsFilter } from "@nnunet-operator/bus";
import type { StreamFlags } from "../args.js";
import type { CommandContext } from "../context.js";
import { curveCsv, curveFileName } from "../curves/csv.js";
import { foldCurves } from "../curves/fold-curves.js";
import { readStoredEpochs } from "../stream.js";
import { streamAccess } from "./explain.js";

// `kubectl nnunet curves export [RUN] --dir DIR`: every fold's curve stored on the stream
// (of RUN, of the namespace, or with -A of every namespace), one CSV file per fold in the
// early-stop evaluator's format, so a platform team can judge the policy on its own
// history: npm run evaluate -w services/early-stop -- --curves DIR.

export async function curvesExportCommand(
  ctx: CommandContext,
  env: Readonly<Record<string, string | undefined>>,
  run: string | undefined,
  dir: string,
  flags: StreamFlags,
): Promise<number> {
  const namespace = ctx.namespace;
  const filter =
    namespace === undefined
      ? ALL_EPOCHS
      : run !== undefined
        ? runEpochsFilter(namespace, run)
        : namespaceEpochsFilter(namespace);
  const messages = await readStoredEpochs(
    streamAccess(flags, env),
    ctx.port,
    namespace ?? "default",
    filter,
    ctx.signal,
  );
  const curves = foldCurves(messages);
  if (curves.length === 0) {
    const where =
      run !== undefined
        ? `run ${namespace}/${run}`
        : namespace !== undefined
          ? `namespace ${namespace}`
          : "any namespace";
    ctx.stderr.write(`no epochs stored for ${where}: nothing written\n`);
    return 0;
  }
  await mkdir(dir, { recursive: true });
  let epochs = 0;
  for (const curve of curves) {
    await writeFile(join(dir, curveFileName(curve)), curveCsv(curve));
    epochs += curve.epochs.length;
  }
  ctx.stdout.write(
    `wrote ${curves.length} curve(s), ${epochs} epochs, to ${dir}\nevaluate them with: npm run evaluate -w services/early-stop -- --curves ${dir}\n`,
  );
  return 0;
}
