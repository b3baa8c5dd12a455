import type { KubeObject } from "../api/resources.js";
import { REVISION_ANNOTATION, sameTemplate, setCondition, surgeAndUnavailable, type Condition } from "./common.js";

// The apps/v1 Deployment controller's decisions, pure: which ReplicaSet is the new one (its
// template equals the Deployment's, pod-template-hash aside), how far to scale it up and
// the old ones down under maxSurge/maxUnavailable (RollingUpdate) or all-old-first
// (Recreate), revisions (a rollback to an old template re-uses its ReplicaSet under a new
// revision), which old ReplicaSets revisionHistoryLimit drops, and the status and
// conditions `kubectl rollout status` and `helm --wait` read.

type Obj = Record<string, unknown>;

export interface RsView {
  name: string;
  revision: number;
  specReplicas: number;
  replicas: number;
  ready: number;
  available: number;
  template: unknown;
  creationTimestamp: string;
}

export interface DeploymentDecision {
  /** Create the new ReplicaSet with this many replicas and revision. */
  create?: { replicas: number; revision: number };
  /** ReplicaSet name -> replicas. */
  scale: Map<string, number>;
  /** The new ReplicaSet gets a new revision annotation (rollback to an old template). */
  reviseNew?: { name: string; revision: number };
  deleteOld: string[];
  status: Obj;
  revision: number;
}

interface DeploymentSpec {
  replicas?: number;
  paused?: boolean;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  progressDeadlineSeconds?: number;
  strategy?: Obj & { type?: string };
  template?: unknown;
}

export function rsView(rs: KubeObject): RsView {
  const spec = (rs["spec"] ?? {}) as { replicas?: number; template?: unknown };
  const st = (rs["status"] ?? {}) as { replicas?: number; readyReplicas?: number; availableReplicas?: number };
  return {
    name: rs.metadata.name!,
    revision: Number(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? 0),
    specReplicas: spec.replicas ?? 0,
    replicas: st.replicas ?? 0,
    ready: st.readyReplicas ?? 0,
    available: st.availableReplicas ?? 0,
    template: spec.template,
    creationTimestamp: rs.metadata.creationTimestamp ?? "",
  };
}

const sum = (list: readonly RsView[], f: (r: RsView) => number) => list.reduce((n, r) => n + f(r), 0);

export function decideDeployment(deploy: KubeObject, all: readonly RsView[], now: Date): DeploymentDecision {
  const spec = (deploy["spec"] ?? {}) as DeploymentSpec;
  const R = spec.replicas ?? 1;
  const found = all.find((r) => sameTemplate(r.template, spec.template));
  const olds = all
    .filter((r) => r !== found)
    .sort((a, b) => a.revision - b.revision || a.creationTimestamp.localeCompare(b.creationTimestamp));
  const maxRevision = Math.max(0, ...all.map((r) => r.revision));
  const scale = new Map<string, number>();
  const d: DeploymentDecision = { scale, deleteOld: [], status: {}, revision: found?.revision ?? maxRevision + 1 };
  if (found && found.revision < maxRevision) {
    d.revision = maxRevision + 1;
    d.reviseNew = { name: found.name, revision: d.revision };
  }
  const target = (r: RsView) => scale.get(r.name) ?? r.specReplicas;
  let newSpec = found?.specReplicas ?? 0;

  if (!spec.paused) {
    if (spec.strategy?.type === "Recreate") {
      for (const o of olds) if (o.specReplicas > 0) scale.set(o.name, 0);
      const oldPods = sum(olds, (o) => o.replicas);
      newSpec = oldPods > 0 || olds.some((o) => o.specReplicas > 0) ? newSpec : R;
    } else {
      const { surge, unavailable } = surgeAndUnavailable(spec.strategy, R);
      // Scale up the new ReplicaSet as far as maxSurge allows; a pass that scales up does
      // nothing else (the next pass sees the ReplicaSets' fresh status), as in the real controller.
      const total = sum(olds, target) + newSpec;
      const before = newSpec;
      if (newSpec < R) newSpec = Math.min(R, newSpec + Math.max(0, R + surge - total));
      if (newSpec > R) newSpec = R;
      const minAvailable = R - unavailable;
      const newUnavailable = Math.max(0, (found?.specReplicas ?? 0) - (found?.available ?? 0));
      // Scale old ReplicaSets down no further than maxUnavailable allows, counted from the
      // replicas asked for (spec), so that a ReplicaSet's stale status cannot over-count.
      let budget =
        newSpec > before ? 0 : sum(olds, target) + (found?.specReplicas ?? 0) - minAvailable - newUnavailable;
      for (const o of olds) {
        if (budget <= 0) break;
        const cut = Math.min(budget, Math.max(0, target(o) - o.available));
        if (cut > 0) {
          scale.set(o.name, target(o) - cut);
          budget -= cut;
        }
      }
      let down = Math.min(budget, sum(all, (r) => r.available) - minAvailable);
      for (const o of olds) {
        if (down <= 0) break;
        const cut = Math.min(down, target(o));
        if (cut > 0) {
          scale.set(o.name, target(o) - cut);
          down -= cut;
        }
      }
    }
  }
  if (found) {
    if (newSpec !== found.specReplicas) scale.set(found.name, newSpec);
  } else d.create = { replicas: newSpec, revision: d.revision };

  // Old ReplicaSets with nothing left beyond revisionHistoryLimit go, oldest first.
  const limit = spec.revisionHistoryLimit ?? 10;
  const empty = olds.filter((o) => target(o) === 0 && o.replicas === 0);
  d.deleteOld = empty.slice(0, Math.max(0, empty.length - limit)).map((o) => o.name);

  d.status = deploymentStatus(deploy, found, olds, R, now);
  return d;
}

function deploymentStatus(
  deploy: KubeObject,
  found: RsView | undefined,
  olds: readonly RsView[],
  R: number,
  now: Date,
): Obj {
  const spec = (deploy["spec"] ?? {}) as DeploymentSpec;
  const prev = (deploy["status"] ?? {}) as {
    conditions?: Condition[];
    updatedReplicas?: number;
    availableReplicas?: number;
    readyReplicas?: number;
    replicas?: number;
  };
  const all = found ? [found, ...olds] : [...olds];
  const replicas = sum(all, (r) => r.replicas);
  const updated = found?.replicas ?? 0;
  const ready = sum(all, (r) => r.ready);
  const available = sum(all, (r) => r.available);
  const { unavailable } =
    spec.strategy?.type === "Recreate" ? { unavailable: 0 } : surgeAndUnavailable(spec.strategy, R);
  const t = now.toISOString().replace(/\.\d{3}Z$/, "Z");
  let conditions = setCondition(
    prev.conditions,
    available >= R - unavailable
      ? {
          type: "Available",
          status: "True",
          reason: "MinimumReplicasAvailable",
          message: "Deployment has minimum availability.",
          lastUpdateTime: t,
        }
      : {
          type: "Available",
          status: "False",
          reason: "MinimumReplicasUnavailable",
          message: "Deployment does not have minimum availability.",
          lastUpdateTime: t,
        },
    t,
  );
  const rsName = found?.name ?? `${deploy.metadata.name}`;
  const complete =
    found !== undefined && updated === R && replicas === R && available === R && olds.every((o) => o.replicas === 0);
  const progressed =
    prev.updatedReplicas !== updated ||
    prev.availableReplicas !== available ||
    prev.readyReplicas !== ready ||
    prev.replicas !== replicas;
  const old = prev.conditions?.find((c) => c.type === "Progressing");
  const deadline = spec.progressDeadlineSeconds ?? 600;
  const timedOut: Condition = {
    type: "Progressing",
    status: "False",
    reason: "ProgressDeadlineExceeded",
    message: `ReplicaSet "${rsName}" has timed out progressing.`,
  };
  let progressing: Condition;
  if (spec.paused)
    progressing = {
      type: "Progressing",
      status: "Unknown",
      reason: "DeploymentPaused",
      message: "Deployment is paused",
    };
  else if (complete)
    progressing = {
      type: "Progressing",
      status: "True",
      reason: "NewReplicaSetAvailable",
      message: `ReplicaSet "${rsName}" has successfully progressed.`,
    };
  else if (!progressed && old?.reason === "ProgressDeadlineExceeded") progressing = timedOut;
  else if (
    !progressed &&
    old?.lastUpdateTime &&
    old.reason !== "NewReplicaSetAvailable" &&
    now.getTime() - Date.parse(old.lastUpdateTime) > deadline * 1000
  )
    progressing = timedOut;
  else
    progressing = {
      type: "Progressing",
      status: "True",
      reason: "ReplicaSetUpdated",
      message: `ReplicaSet "${rsName}" is progressing.`,
    };
  // lastUpdateTime moves whenever the rollout made progress (the deadline counts from it).
  const keep =
    old &&
    old.status === progressing.status &&
    old.reason === progressing.reason &&
    old.message === progressing.message &&
    !progressed;
  conditions = [
    ...conditions.filter((c) => c.type !== "Progressing"),
    keep
      ? old
      : {
          ...progressing,
          lastUpdateTime: t,
          lastTransitionTime: old && old.status === progressing.status ? (old.lastTransitionTime ?? t) : t,
        },
  ];
  return {
    observedGeneration: deploy.metadata.generation ?? 1,
    replicas,
    updatedReplicas: updated,
    readyReplicas: ready,
    availableReplicas: available,
    unavailableReplicas: Math.max(0, R - available),
    conditions,
  };
}

/** The rollout is done: what `kubectl rollout status` waits for. */
export function rolloutComplete(status: Obj, replicas: number): boolean {
  const st = status as { updatedReplicas?: number; replicas?: number; availableReplicas?: number };
  return st.updatedReplicas === replicas && st.replicas === replicas && st.availableReplicas === replicas;
}
