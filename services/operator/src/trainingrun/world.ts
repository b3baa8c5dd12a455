import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { INode } from "kubernetes-models/v1/Node";
import type { IPod } from "kubernetes-models/v1/Pod";
import { type FieldError, LABEL_RUN, parseTrainingRun, type TrainingRun } from "@nnunet-operator/api";
import { Informer, type KubeObject, type KubePort, objectKey, Resources } from "@nnunet-operator/kube";
import type { OperatorConfig } from "../config.js";
import { type RunChildren, splitChildren } from "./decide/ownership.js";
import { slimJob, slimObject, slimPod } from "./slim.js";

// The operator's view of the cluster: one informer per resource it reads, all through the
// kube port, and the small per-run caches that keep a reconcile cheap when a thousand runs
// share the cluster. Holds no rules: it gathers what the pure decisions take as input.
// With config.watchNamespaces, what belongs to runs (runs, our Jobs, claims, the calibration
// cache) is watched in those namespaces only, one watch each; pods and nodes stay
// cluster-wide and read-only: GPUs held by pods in any namespace count against capacity.

export interface WorldInformers {
  readonly runs: Informer<KubeObject>;
  readonly jobs: Informer<KubeObject>;
  readonly pods: Informer<KubeObject>;
  readonly nodes: Informer<KubeObject>;
  readonly claims: Informer<KubeObject>;
  readonly configMaps: Informer<KubeObject>;
}

export type ParsedRun = { ok: true; run: TrainingRun } | { ok: false; errors: FieldError[] };

export class World {
  readonly informers: WorldInformers;
  private readonly parsed = new Map<string, { rv: string | undefined; result: ParsedRun }>();

  constructor(
    port: Pick<KubePort, "list" | "watch">,
    readonly config: OperatorConfig,
    onError: (err: unknown) => void,
  ) {
    const common = { port, onError };
    const watched = { ...common, namespaces: config.watchNamespaces };
    this.informers = {
      runs: new Informer({ ...watched, resource: Resources.trainingRuns, transform: slimObject }),
      // Only our children: the run label is set on every Job and pod the operator creates.
      jobs: new Informer({ ...watched, resource: Resources.jobs, labelSelector: LABEL_RUN, transform: slimJob }),
      // Every pod, in every namespace: GPUs held by other workloads count against capacity too.
      pods: new Informer({ ...common, resource: Resources.pods, transform: slimPod }),
      nodes: new Informer({ ...common, resource: Resources.nodes, transform: slimObject }),
      claims: new Informer({ ...watched, resource: Resources.persistentVolumeClaims, transform: slimObject }),
      configMaps: new Informer({
        ...watched,
        resource: Resources.configMaps,
        fieldSelector: `metadata.name=${config.calibration.cacheConfigMap}`,
        transform: slimObject,
      }),
    };
  }

  all(): Informer<KubeObject>[] {
    return Object.values(this.informers);
  }

  // biome-ignore lint/suspicious/noConfusingVoidType: Promise.all of void promises
  run(signal: AbortSignal): Promise<void[]> {
    return Promise.all(this.all().map((i) => i.run(signal)));
  }

  async waitForSync(signal: AbortSignal): Promise<boolean> {
    const synced = await Promise.all(this.all().map((i) => i.waitForSync(signal)));
    return synced.every(Boolean);
  }

  hasSynced(): boolean {
    return this.all().every((i) => i.hasSynced());
  }

  /** The run parsed with the API's zod schema, cached per resourceVersion. */
  parse(raw: KubeObject): ParsedRun {
    const key = objectKey(raw);
    const rv = raw.metadata.resourceVersion;
    const hit = this.parsed.get(key);
    if (hit && hit.rv === rv && rv !== undefined) return hit.result;
    const r = parseTrainingRun(raw);
    const result: ParsedRun = r.ok ? { ok: true, run: r.run } : { ok: false, errors: r.errors };
    this.parsed.set(key, { rv, result });
    return result;
  }

  forget(key: string): void {
    this.parsed.delete(key);
  }

  runs(): KubeObject[] {
    return this.informers.runs.store.list();
  }

  /**
   * The Jobs and pods labelled for the run in its namespace, split by who controls them
   * (decide/ownership.ts): only the run's own are its children; labelled Jobs it does not
   * control come back as foreign.
   */
  childrenOf(namespace: string, run: string, uid: string | undefined): RunChildren {
    const labelled = (i: Informer<KubeObject>) =>
      i.store.byLabel(LABEL_RUN, run).filter((o) => o.metadata.namespace === namespace);
    return splitChildren(uid, labelled(this.informers.jobs) as IJob[], labelled(this.informers.pods) as IPod[]);
  }

  allJobs(): IJob[] {
    return this.informers.jobs.store.list() as IJob[];
  }

  allPods(): IPod[] {
    return this.informers.pods.store.list() as IPod[];
  }

  nodes(): INode[] {
    return this.informers.nodes.store.list() as INode[];
  }

  claimExists(namespace: string, name: string): boolean {
    return this.informers.claims.store.get(`${namespace}/${name}`) !== undefined;
  }

  calibrationCache(namespace: string): { data: Record<string, string> | undefined; rv: string } {
    const cm = this.informers.configMaps.store.get(`${namespace}/${this.config.calibration.cacheConfigMap}`);
    return { data: cm?.data as Record<string, string> | undefined, rv: cm?.metadata.resourceVersion ?? "" };
  }

  /** Puts an object a write returned into the cache at once, so the next pass sees its own writes. */
  remember(kind: "runs" | "jobs" | "configMaps", object: KubeObject): void {
    const store = this.informers[kind].store;
    const cached = store.get(objectKey(object));
    // Never replace a newer object the watch already delivered.
    if (cached && Number(cached.metadata.resourceVersion) > Number(object.metadata.resourceVersion)) return;
    store.upsert(kind === "jobs" ? slimJob(object) : slimObject(object));
  }
}
