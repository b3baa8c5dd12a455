import { type Clock, systemClock, toMicroTime } from "./clock.js";
import { isNotFound } from "./errors.js";
import { type KubeObject, type KubePort, Resources, apiVersionOf } from "./port.js";

// Records Kubernetes Events about our objects (events.k8s.io/v1 by default, core/v1 on
// request). A repeat of the same event within the series window bumps the count of the
// existing Event with one patch instead of creating another object, like client-go's
// EventSeries. Recording never throws into the caller: an event is worth a log line, not a
// failed reconcile.

export type EventType = "Normal" | "Warning";
export type EventApi = "events.k8s.io/v1" | "v1";

export interface ObjectReference {
  apiVersion?: string | undefined;
  kind?: string | undefined;
  name: string;
  namespace?: string | undefined;
  uid?: string | undefined;
  resourceVersion?: string | undefined;
}

export function referenceOf(object: KubeObject): ObjectReference {
  const m = object.metadata;
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: m.name ?? "",
    namespace: m.namespace,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
  };
}

export interface EventInput {
  regarding: ObjectReference;
  type: EventType;
  /** PascalCase, machine readable (at most 128 characters). */
  reason: string;
  /** Human readable (truncated to 1 kB). */
  note: string;
  /** What was done (events.k8s.io requires one); defaults to the reason. */
  action?: string | undefined;
}

export interface Reporter {
  controller: string;
  instance: string;
}

const MAX_NOTE = 1024;

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

/** Events of one regarding object, type, reason, action and note form a series. */
export function seriesKey(input: EventInput): string {
  const r = input.regarding;
  return JSON.stringify([
    r.uid ?? `${r.namespace}/${r.kind}/${r.name}`,
    input.type,
    input.reason,
    input.action ?? input.reason,
    input.note,
  ]);
}

/** `<name>.<hex nanoseconds>`, unique enough and sortable, as client-go names them. */
export function eventName(regardingName: string, nowMs: number, sequence: number): string {
  const nanos = BigInt(Math.trunc(nowMs)) * 1_000_000n + BigInt(sequence % 1_000_000);
  return `${regardingName}.${nanos.toString(16)}`;
}

/** A new Event object. Pure. */
export function buildEvent(
  api: EventApi,
  input: EventInput,
  name: string,
  nowMs: number,
  reporter: Reporter,
): KubeObject {
  const namespace = input.regarding.namespace || "default";
  const note = truncate(input.note, MAX_NOTE);
  const action = truncate(input.action ?? input.reason, 128);
  const reason = truncate(input.reason, 128);
  const regarding = Object.fromEntries(Object.entries(input.regarding).filter(([, v]) => v !== undefined && v !== ""));
  if (api === "events.k8s.io/v1") {
    return {
      apiVersion: apiVersionOf(Resources.events),
      kind: "Event",
      metadata: { name, namespace },
      eventTime: toMicroTime(nowMs),
      reportingController: reporter.controller,
      reportingInstance: reporter.instance,
      action,
      reason,
      note,
      type: input.type,
      regarding,
    };
  }
  const time = new Date(nowMs).toISOString().replace(/\.\d+Z$/, "Z");
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name, namespace },
    involvedObject: regarding,
    reason,
    message: note,
    type: input.type,
    count: 1,
    firstTimestamp: time,
    lastTimestamp: time,
    source: { component: reporter.controller },
    reportingComponent: reporter.controller,
    reportingInstance: reporter.instance,
    action,
  };
}

/** The merge patch that records the `count`-th occurrence at `nowMs`. Pure. */
export function buildSeriesPatch(api: EventApi, count: number, nowMs: number): Record<string, unknown> {
  if (api === "events.k8s.io/v1") return { series: { count, lastObservedTime: toMicroTime(nowMs) } };
  return { count, lastTimestamp: new Date(nowMs).toISOString().replace(/\.\d+Z$/, "Z") };
}

export interface EventRecorderOptions {
  port: Pick<KubePort, "create" | "patch">;
  reporter: Reporter;
  api?: EventApi;
  clock?: Clock;
  /** Repeats within this window join the series; default 6 minutes (the Kubernetes value). */
  seriesWindowMs?: number;
  /** Series remembered at most (least recently used forgotten first). */
  maxSeries?: number;
  onError?: (err: unknown, input: EventInput) => void;
}

interface Series {
  name: string;
  namespace: string;
  count: number;
  lastMs: number;
}

export class EventRecorder {
  private readonly series = new Map<string, Series>();
  private readonly chains = new Map<string, Promise<void>>();
  private sequence = 0;
  private readonly clock: Clock;
  private readonly api: EventApi;

  constructor(private readonly options: EventRecorderOptions) {
    this.clock = options.clock ?? systemClock;
    this.api = options.api ?? "events.k8s.io/v1";
  }

  /** Records an event; resolves when written (or given up on), never rejects. */
  record(input: EventInput): Promise<void> {
    const key = seriesKey(input);
    // Repeats of one series are written in order, so counts never go backwards.
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous.then(() => this.write(key, input)).catch((err) => this.options.onError?.(err, input));
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
    return next;
  }

  /** Shorthand for record() about an object. */
  event(object: KubeObject, type: EventType, reason: string, note: string, action?: string): Promise<void> {
    return this.record({ regarding: referenceOf(object), type, reason, note, action });
  }

  private resource() {
    return this.api === "events.k8s.io/v1" ? Resources.events : Resources.coreEvents;
  }

  private async write(key: string, input: EventInput): Promise<void> {
    const now = this.clock.now();
    const known = this.series.get(key);
    if (known && now - known.lastMs <= (this.options.seriesWindowMs ?? 6 * 60_000)) {
      try {
        await this.options.port.patch(
          this.resource(),
          { namespace: known.namespace, name: known.name },
          buildSeriesPatch(this.api, known.count + 1, now),
          { type: "merge" },
        );
        known.count += 1;
        known.lastMs = now;
        this.remember(key, known);
        return;
      } catch (err) {
        // The Event expired (TTL) or was deleted: start a new one below.
        if (!isNotFound(err)) throw err;
      }
    }
    const name = eventName(input.regarding.name, now, this.sequence++);
    const event = buildEvent(this.api, input, name, now, this.options.reporter);
    await this.options.port.create(this.resource(), event);
    this.remember(key, { name, namespace: event.metadata.namespace ?? "default", count: 1, lastMs: now });
  }

  private remember(key: string, entry: Series): void {
    this.series.delete(key);
    this.series.set(key, entry);
    const max = this.options.maxSeries ?? 4096;
    while (this.series.size > max) this.series.delete(this.series.keys().next().value as string);
  }
}
