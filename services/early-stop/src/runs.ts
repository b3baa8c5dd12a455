import { foldKey, TrainingRunSpec } from "@nnunet-operator/api";
import { z } from "zod";
import type { PolicyConfig } from "./convergence/config.js";

// What the controller needs from a TrainingRun, read once per resourceVersion: its identity,
// the folds it trains, and per fold the policy configuration (spec.schedule.earlyStop) with
// the planned number of epochs (status.folds[].maxEpochs, else the calibrated
// status.calibration.effectiveMaxEpochs, else spec.schedule.maxEpochs). Pure.

export interface RunView {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly resourceVersion: string;
  /** Fold keys of spec.folds ("0".."4", "all"). */
  readonly folds: ReadonlySet<string>;
  /** Per fold: the config and a key that changes exactly when the config does. */
  readonly configs: ReadonlyMap<string, { readonly config: PolicyConfig; readonly key: string }>;
}

// Status is the operator's; read only the fields used here and tolerate the rest.
const StatusView = z
  .looseObject({
    calibration: z
      .looseObject({ effectiveMaxEpochs: z.int().min(1).optional() })
      .optional()
      .catch(undefined),
    folds: z
      .array(
        z.looseObject({
          fold: z.string(),
          maxEpochs: z.int().min(1).optional().catch(undefined),
        }),
      )
      .optional()
      .catch(undefined),
  })
  .optional()
  .catch(undefined);

export type ReadRunResult = { ok: true; run: RunView } | { ok: false; detail: string };

/** The view of a TrainingRun object as the API server sends it. */
export function readRun(object: {
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
  spec?: unknown;
  status?: unknown;
}): ReadRunResult {
  const { name, namespace, uid } = object.metadata;
  if (!name || !namespace || !uid) return { ok: false, detail: "metadata lacks name, namespace or uid" };
  const spec = TrainingRunSpec.safeParse(object.spec);
  if (!spec.success)
    return { ok: false, detail: `spec: ${spec.error.issues[0]?.path.join(".")}: ${spec.error.issues[0]?.message}` };
  const status = StatusView.parse(object.status);
  const folds = new Set(spec.data.folds.map(foldKey));
  const configs = new Map<string, { config: PolicyConfig; key: string }>();
  const earlyStop = spec.data.schedule.earlyStop;
  const earlyStopKey = JSON.stringify(earlyStop);
  for (const fold of folds) {
    const entry = status?.folds?.find((f) => f.fold === fold);
    const maxEpochs = entry?.maxEpochs ?? status?.calibration?.effectiveMaxEpochs ?? spec.data.schedule.maxEpochs;
    configs.set(fold, { config: { earlyStop, maxEpochs }, key: `${maxEpochs}:${earlyStopKey}` });
  }
  return {
    ok: true,
    run: { namespace, name, uid, resourceVersion: object.metadata.resourceVersion ?? "", folds, configs },
  };
}

/** Caches views by object key and resourceVersion, over any store of TrainingRun objects. */
export class RunIndex {
  private readonly cache = new Map<string, { rv: string; result: ReadRunResult }>();

  constructor(private readonly lookup: (key: string) => Parameters<typeof readRun>[0] | undefined) {}

  /** undefined: no such run; otherwise the view or why the run cannot be read. */
  get(namespace: string, name: string): ReadRunResult | undefined {
    const key = `${namespace}/${name}`;
    const object = this.lookup(key);
    if (object === undefined) {
      this.cache.delete(key);
      return undefined;
    }
    const rv = object.metadata.resourceVersion ?? "";
    const cached = this.cache.get(key);
    if (cached !== undefined && cached.rv === rv && rv !== "") return cached.result;
    const result = readRun(object);
    this.cache.set(key, { rv, result });
    return result;
  }
}
