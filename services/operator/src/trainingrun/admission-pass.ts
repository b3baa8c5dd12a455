import type { TrainingRun } from "@nnunet-operator/api";
import type { KubeObject } from "@nnunet-operator/kube";
import type { OperatorConfig } from "../config.js";
import { type AdmissionDecision, type AdmissionRun, decideAdmission, type Demand, NOTHING_ADMITTED, runKey } from "./decide/admission.js";
import type { RunWorld } from "./decide/parts.js";
import { decideRun } from "./decide/run.js";
import { queueOutlookOf } from "./decide/finish.js";
import { gpuTolerations } from "./manifests/common.js";
import type { World } from "./world.js";
import type { ProgressCache } from "./progress-feed.js";

// The cluster-wide admission pass one reconcile needs. Every run's wants (the GPU work it
// would start now) come from decideRun; for the run being reconciled they are fresh, for
// the others they are cached per fingerprint (the run's resourceVersion and its children's,
// its claim, the calibration cache, the nodes). With a thousand runs that turns a pass from
// a thousand decideRun calls into one, plus the admission itself. A cached entry can only
// be stale through time (a restart backoff running out); that run's own reconcile, which
// the backoff requeues, computes it fresh.

export class AdmissionPass {
  private readonly wantsCache = new Map<string, { fingerprint: string; wants: readonly Demand[]; signature: string }>();
  /** The last decision and what it was computed from: reused while neither changed. */
  private last: { signature: string; version: number; decision: AdmissionDecision } | undefined;

  constructor(
    private readonly world: World,
    private readonly config: OperatorConfig,
    private readonly progress: ProgressCache,
  ) {}

  /**
   * The world of one run as the pure decisions take it (admission left empty). The queue
   * outlook (a read of every run's status) only for the run being reconciled: the wants of
   * the others do not depend on it, and a pass over a thousand runs stays linear.
   */
  runWorld(run: TrainingRun, withOutlook = false): RunWorld {
    const ns = run.metadata.namespace ?? "default";
    const name = run.metadata.name ?? "";
    return {
      config: this.config,
      jobs: this.world.jobsOf(ns, name),
      pods: this.world.podsOf(ns, name),
      nodes: this.world.nodes(),
      calibrationCache: this.world.calibrationCache(ns).data,
      claimExists: this.world.claimExists(ns, run.spec.storage.claimName),
      admission: NOTHING_ADMITTED,
      progress: this.progress.of(run.metadata.uid),
      ...(withOutlook && { queueOutlook: queueOutlookOf(this.parsedRuns()) }),
    };
  }

  /** Every live run that parses, as stored. */
  private parsedRuns(): TrainingRun[] {
    const runs: TrainingRun[] = [];
    for (const raw of this.world.runs()) {
      if (raw.metadata.deletionTimestamp) continue;
      const parsed = this.world.parse(raw);
      if (parsed.ok) runs.push(parsed.run);
    }
    return runs;
  }

  /** The run's wants and its admission signature, both cached per fingerprint. */
  private wantsOf(raw: KubeObject, run: TrainingRun, claimExists: boolean, now: Date): { wants: readonly Demand[]; signature: string } {
    const key = runKey(run);
    const fingerprint = this.world.fingerprint(raw, run);
    const hit = this.wantsCache.get(key);
    if (hit && hit.fingerprint === fingerprint) return hit;
    const wants = decideRun(run, this.runWorld(run), now).wants;
    const entry = { fingerprint, wants, signature: signatureOf({ run, claimExists, wants }) };
    this.wantsCache.set(key, entry);
    return entry;
  }

  forget(key: string): void {
    this.wantsCache.delete(key);
  }

  /**
   * Admission over every live run, with `current`'s wants computed afresh. Reuses the last
   * decision when the children, nodes, claims and caches did not change (the world's
   * version) and every run asks for the same work with the same priority, queue, products
   * and holds (the signature): a row of waiting runs, each looked at in turn, then costs
   * one admission pass instead of one each.
   */
  decide(current: TrainingRun, currentWants: readonly Demand[], now: Date): AdmissionDecision {
    const version = this.world.version;
    const runs: AdmissionRun[] = [];
    const signatures: string[] = [];
    const currentKey = runKey(current);
    for (const raw of this.world.runs()) {
      if (raw.metadata.deletionTimestamp) continue;
      const parsed = this.world.parse(raw);
      if (!parsed.ok) continue;
      const fresh = runKey(parsed.run) === currentKey;
      const run = fresh ? current : parsed.run;
      const claimExists = this.world.claimExists(run.metadata.namespace ?? "default", run.spec.storage.claimName);
      if (fresh) {
        runs.push({ run, claimExists, wants: currentWants });
        signatures.push(signatureOf({ run, claimExists, wants: currentWants }));
      } else {
        const { wants, signature } = this.wantsOf(raw, run, claimExists, now);
        runs.push({ run, claimExists, wants });
        signatures.push(signature);
      }
    }
    const signature = signatures.join("\n");
    if (this.last && this.last.version === version && this.last.signature === signature) return this.last.decision;
    const decision = decideAdmission({
      nodes: this.world.nodes(),
      pods: this.world.allPods(),
      jobs: this.world.allJobs(),
      runs,
      queues: this.config.queues,
      acceptedProducts: this.config.gpu.acceptedProducts,
      tolerations: gpuTolerations(this.config),
      defaultProductLabel: this.config.gpu.defaultProductLabel,
    });
    this.last = { signature, version, decision };
    return decision;
  }
}

/** Everything of a run that decideAdmission reads. */
function signatureOf(r: AdmissionRun): string {
  const { metadata, spec } = r.run;
  return JSON.stringify([metadata.namespace, metadata.name, metadata.creationTimestamp, spec.priority, spec.queue, spec.suspend, spec.gpu, r.claimExists, r.wants]);
}
