import type { IJob } from "kubernetes-models/batch/v1/Job";
import {
  isAlreadyExists,
  isConflict,
  isNotFound,
  type KubeObject,
  type KubePort,
  Resources,
} from "@nnunet-operator/kube";
import { controllerRefOf, LABEL_RUN } from "@nnunet-operator/api";
import { isChildOf } from "./decide/ownership.js";
import type { KubeAction } from "./decide/run.js";

// Performs one plan's kube actions in order, with the idempotence the plan relies on:
// a create that meets AlreadyExists reads the Job there, which is success when the run
// controls it and comes back as foreign when it does not (its name is taken: the reconciler
// shows it to the decisions, which never touch it); a delete is by uid and takes NotFound
// or another Job by that name (a failed uid precondition) as success; the calibration cache
// is merge-patched (concurrent writers of different keys do not clash) or created when
// missing. Every other error goes up to the work queue, which retries the retryable ones
// with backoff.

export interface ActResult {
  /** Objects a write returned, for the caches. */
  readonly written: Array<{ kind: "jobs" | "configMaps"; object: KubeObject }>;
  /** Names of Jobs this pass created (not those that already existed). */
  readonly created: string[];
  /** Jobs a create met (AlreadyExists) that the run does not control: never adopted. */
  readonly foreign: KubeObject[];
}

/** Recursive JSON merge patch (RFC 7386) from `from` to `to`: removed keys become null, arrays are replaced. Pure. */
export function mergePatchBetween(from: unknown, to: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObject(from) || !isObject(to)) return to;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(from)) if (!(key in to) || to[key] === undefined) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    if (value === undefined) continue;
    const old = from[key];
    if (JSON.stringify(old) === JSON.stringify(value)) continue;
    patch[key] = isObject(old) && isObject(value) ? mergePatchBetween(old, value) : value;
  }
  return patch;
}

/**
 * Performs the actions in order, except that a run of consecutive creates (the folds of one
 * admission) is sent at once: creates of distinct, deterministic names do not depend on
 * each other, and a pass that admits five folds then costs one round trip, not five.
 */
export async function performActions(
  port: Pick<KubePort, "create" | "delete" | "get" | "patch">,
  actions: readonly KubeAction[],
  /** Called at once with every object written, also when a later action fails. */
  onWritten: (kind: "jobs" | "configMaps", object: KubeObject) => void = () => undefined,
  /** Runs before a batch of Jobs is created: stores what their pods mount (a fold's NATS credential). */
  beforeCreate: (jobs: readonly IJob[]) => Promise<void> = async () => undefined,
): Promise<ActResult> {
  const result: ActResult = { written: [], created: [], foreign: [] };
  const wrote = (kind: "jobs" | "configMaps", object: KubeObject): void => {
    result.written.push({ kind, object });
    onWritten(kind, object);
  };
  for (let i = 0; i < actions.length; i++) {
    const action = actions[i]!;
    switch (action.verb) {
      case "create": {
        const batch: Array<Extract<KubeAction, { verb: "create" }>> = [action];
        while (actions[i + 1]?.verb === "create") batch.push(actions[++i] as Extract<KubeAction, { verb: "create" }>);
        await beforeCreate(batch.map((a) => a.object as IJob));
        const settled = await Promise.allSettled(batch.map((a) => port.create(Resources.jobs, a.object as KubeObject)));
        let failure: unknown;
        const existing: IJob[] = [];
        settled.forEach((s, k) => {
          if (s.status === "fulfilled") {
            wrote("jobs", s.value);
            result.created.push(batch[k]!.object.metadata?.name ?? "");
          } else if (isAlreadyExists(s.reason)) existing.push(batch[k]!.object as IJob);
          else failure ??= s.reason;
        });
        for (const wanted of existing) {
          const there = await existingJob(port, wanted);
          if (!there) continue; // gone again: the next pass creates it
          // The run of a Job we build is its controller, and its run label names it.
          const [runName, runUid] = [wanted.metadata?.labels?.[LABEL_RUN], controllerRefOf(wanted)?.uid];
          if (isChildOf(there as IJob, runName, runUid)) wrote("jobs", there);
          else result.foreign.push(there);
        }
        if (failure !== undefined) throw failure;
        break;
      }
      case "delete": {
        try {
          await port.delete(
            Resources.jobs,
            { namespace: action.namespace, name: action.name },
            {
              propagationPolicy: action.propagationPolicy,
              ...(action.uid !== undefined ? { preconditions: { uid: action.uid } } : {}),
            },
          );
        } catch (err) {
          // Conflict: the uid precondition failed, the name holds a Job this action is not about.
          if (!isNotFound(err) && !isConflict(err)) throw err;
        }
        break;
      }
      case "upsertConfigMapData": {
        const key = { namespace: action.namespace, name: action.name };
        try {
          wrote("configMaps", await port.patch(Resources.configMaps, key, action.patch, { type: "merge" }));
        } catch (err) {
          if (!isNotFound(err)) throw err;
          try {
            wrote("configMaps", await port.create(Resources.configMaps, action.ifMissing as KubeObject));
          } catch (createErr) {
            // Another writer created it between our patch and create: patch again.
            if (!isAlreadyExists(createErr)) throw createErr;
            wrote("configMaps", await port.patch(Resources.configMaps, key, action.patch, { type: "merge" }));
          }
        }
        break;
      }
    }
  }
  return result;
}

/** The Job a create met (AlreadyExists), as stored; undefined when it is gone by now. */
async function existingJob(port: Pick<KubePort, "get">, wanted: IJob): Promise<KubeObject | undefined> {
  try {
    return await port.get(Resources.jobs, {
      namespace: wanted.metadata?.namespace ?? "default",
      name: wanted.metadata?.name ?? "",
    });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
