import type { KubeObject } from "../api/resources.js";
import type { StoreEvent } from "../api/store.js";
import type { Cluster } from "../cluster.js";
import { createRecorder, type Recorder } from "../sim/recorder.js";
import { ignoreExpected, KeyQueue } from "../sim/key-queue.js";
import { decideJob, TRACKING_FINALIZER, type JobStatus } from "./job-decide.js";

// The batch/v1 Job controller, in process: a keyed queue of jobs fed by job and pod
// watches (a pod maps to its controlling Job), and a reconcile that reads the job and its
// pods, asks decideJob, and acts: counts finished pods (then drops their tracking
// finalizer), creates pods from the template, deletes pods gracefully, writes status,
// deletes the job when its TTL ran out. Pods carry the job-tracking finalizer so a failed
// pod is counted even when someone deletes it first, as on a real cluster.

const JOBS = "jobs.batch";

function controllerOf(pod: KubeObject): string | undefined {
  const ref = pod.metadata.ownerReferences?.find(
    (r) => r.controller && r.kind === "Job" && r.apiVersion === "batch/v1",
  );
  return ref ? `${pod.metadata.namespace}/${ref.name}` : undefined;
}

export class JobController {
  private readonly queue: KeyQueue;
  private readonly recorder: Recorder;
  private readonly unsubscribe: (() => void)[] = [];
  /** Pod uids counted whose finalizer removal has not landed yet. */
  private readonly counted = new Set<string>();

  constructor(private readonly cluster: Cluster) {
    this.recorder = createRecorder(cluster, "job-controller");
    this.queue = new KeyQueue((key) => this.reconcile(key), {
      name: "job-controller",
      reporter: cluster.controllerFailures,
    });
  }

  start(): () => void {
    const store = this.cluster.store;
    for (const e of store.scan(JOBS)) this.queue.add(`${e.namespace}/${e.name}`);
    this.unsubscribe.push(
      store.watch(JOBS, { group: "batch", resource: "jobs" }, undefined, (e: StoreEvent) =>
        this.queue.add(`${e.object.metadata.namespace}/${e.object.metadata.name}`),
      ),
    );
    this.unsubscribe.push(
      store.watch("pods", { group: "", resource: "pods" }, undefined, (e: StoreEvent) => {
        const key = controllerOf(e.object);
        if (key) this.queue.add(key);
        else if (e.type !== "DELETED" && e.object.metadata.finalizers?.includes(TRACKING_FINALIZER))
          this.queue.add(`orphan:${e.object.metadata.namespace}/${e.object.metadata.name}`);
        if (e.type === "DELETED") this.counted.delete(e.object.metadata.uid!);
      }),
    );
    return () => this.stop();
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.queue.stop();
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async reconcile(key: string): Promise<void> {
    if (key.startsWith("orphan:")) return this.releaseOrphan(key.slice(7));
    const [ns, name] = key.split("/") as [string, string];
    const c = this.cluster;
    const jobDef = c.resource("batch", "v1", "jobs");
    const podDef = c.resource("", "v1", "pods");
    const job = c.store.get(JOBS, ns, name);
    if (!job || job.metadata.deletionTimestamp) {
      // Pods of a job that is gone (or going) must not stay held by the tracking finalizer.
      for (const e of c.store.scan("pods", ns)) if (controllerOf(e.object) === key) await this.dropFinalizer(e.object);
      return;
    }
    const uid = job.metadata.uid!;
    const pods = [...c.store.scan("pods", ns)]
      .map((e) => e.object)
      .filter((p) => p.metadata.ownerReferences?.some((r) => r.uid === uid && r.controller));
    const d = decideJob(job, pods, c.now(), this.counted);

    for (const { pod } of d.count) this.counted.add(pod.metadata.uid!);
    if (JSON.stringify(d.status) !== JSON.stringify(job["status"] ?? {})) {
      await c.registry.patch(
        jobDef,
        ns,
        name,
        "merge",
        { status: statusPatch(d.status, (job["status"] ?? {}) as JobStatus) },
        { fieldManager: "job-controller" },
        "status",
      );
    }
    for (const e of d.events) this.recorder.event(job, e.type, e.reason, e.message);
    for (const { pod } of d.count) await this.dropFinalizer(pod);
    for (const pod of d.delete) {
      await c
        .delete(podDef, ns, pod.metadata.name!, { preconditions: { uid: pod.metadata.uid! } })
        .catch(ignoreExpected);
      this.recorder.event(job, "Normal", "SuccessfulDelete", `Deleted pod: ${pod.metadata.name}`);
    }
    // Pods of a finished job that still carry the finalizer (counted before) are released too.
    for (const p of pods)
      if (p.metadata.finalizers?.includes(TRACKING_FINALIZER) && this.counted.has(p.metadata.uid!))
        await this.dropFinalizer(p);
    for (let i = 0; i < d.create; i++) {
      const pod = await c.create(podFromTemplate(job), { fieldManager: "job-controller" });
      this.recorder.event(job, "Normal", "SuccessfulCreate", `Created pod: ${pod.metadata.name}`);
    }
    if (d.deleteJob)
      await c
        .delete(jobDef, ns, name, { propagationPolicy: "Background", preconditions: { uid } })
        .catch(ignoreExpected);
    if (d.requeueAfterMs !== undefined) this.queue.addAfter(key, d.requeueAfterMs);
  }

  /** A pod orphaned from its job (Orphan deletion) loses the tracking finalizer. */
  private async releaseOrphan(key: string): Promise<void> {
    const [ns, name] = key.split("/") as [string, string];
    const pod = this.cluster.store.get("pods", ns, name);
    if (pod && !controllerOf(pod)) await this.dropFinalizer(pod);
  }

  private async dropFinalizer(pod: KubeObject): Promise<void> {
    const current = this.cluster.store.get("pods", pod.metadata.namespace, pod.metadata.name!);
    if (
      !current ||
      current.metadata.uid !== pod.metadata.uid ||
      !current.metadata.finalizers?.includes(TRACKING_FINALIZER)
    )
      return;
    const finalizers = current.metadata.finalizers.filter((f) => f !== TRACKING_FINALIZER);
    await this.cluster.registry
      .patch(
        this.cluster.resource("", "v1", "pods"),
        pod.metadata.namespace,
        pod.metadata.name!,
        "merge",
        {
          metadata: {
            finalizers: finalizers.length ? finalizers : null,
            resourceVersion: current.metadata.resourceVersion,
          },
        },
        { fieldManager: "job-controller" },
      )
      .catch(ignoreExpected);
  }
}

/** A merge patch that also removes status fields decideJob dropped (startTime while suspended). */
function statusPatch(next: JobStatus, prev: JobStatus): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...next };
  for (const k of Object.keys(prev)) if (!(k in next)) patch[k] = null;
  return patch;
}

export function podFromTemplate(job: KubeObject): KubeObject {
  const template = ((job["spec"] as { template?: { metadata?: Record<string, unknown>; spec?: unknown } }).template ??
    {}) as { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: unknown };
  const name = job.metadata.name!;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: `${name}-`,
      namespace: job.metadata.namespace!,
      labels: { ...template.metadata?.labels },
      ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
      ownerReferences: [
        {
          apiVersion: "batch/v1",
          kind: "Job",
          name,
          uid: job.metadata.uid!,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      finalizers: [TRACKING_FINALIZER],
    },
    spec: structuredClone(template.spec ?? {}),
  };
}
