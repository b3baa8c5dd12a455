import type { ServerResponse } from "node:http";
import { ApiError } from "../api/errors.js";
import {
  apiVersionOf,
  needsConversion as conversionNeeded,
  type KubeObject,
  type ResourceDef,
} from "../api/resources.js";
import {
  matchesFields,
  matchesFieldValues,
  matchesLabels,
  type FieldRequirement,
  type LabelSelector,
} from "../api/selectors.js";
import type { Store, StoreEvent } from "../api/store.js";
import { partialMetadata, toTable } from "./table.js";
import type { ResponseFormat } from "./request-info.js";

// Watch streams: newline-delimited JSON events, starting from a resourceVersion (replayed
// from the kept history, or an ERROR event with 410 Expired when it is too old) or from
// the current state (synthetic ADDED events), with selector transitions (an object that
// stops matching is DELETED for this watcher), bookmarks and timeoutSeconds.

export interface WatchRequest {
  def: ResourceDef;
  namespace: string | undefined;
  labels: LabelSelector;
  fields: FieldRequirement[];
  resourceVersion: string | undefined;
  allowBookmarks: boolean;
  sendInitialEvents: boolean;
  timeoutSeconds: number | undefined;
  format: ResponseFormat;
  includeObject: string | null;
  bookmarkIntervalMs: number;
  now: () => number;
}

/** Slow readers are cut off (they re-watch) rather than buffering without bound. */
const MAX_BUFFERED = 32 * 1024 * 1024;

export function serveWatch(store: Store, res: ServerResponse, w: WatchRequest): void {
  const { def } = w;
  const ns = def.namespaced ? w.namespace : undefined;
  const matches = (o: KubeObject | undefined) =>
    o !== undefined &&
    (ns === undefined || o.metadata.namespace === ns) &&
    matchesLabels(w.labels, o.metadata.labels) &&
    matchesFields(w.fields, o);
  const needsConversion = conversionNeeded(def);
  const external = (o: KubeObject) => (def.convert ? def.convert.fromStored(o) : o);

  res.writeHead(200, {
    "content-type": w.format === "table" ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json",
    "cache-control": "no-cache, private",
    "transfer-encoding": "chunked",
  });
  res.flushHeaders();
  let closed = false;
  let unsubscribe: () => void = () => undefined;
  const timers: NodeJS.Timeout[] = [];
  const stop = () => {
    if (closed) return;
    flush();
    closed = true;
    unsubscribe();
    for (const t of timers) clearTimeout(t), clearInterval(t);
    res.end();
  };
  // Not req's close: that fires once the (empty) request body has been read.
  res.on("close", stop);

  // Events of one event-loop turn go out in one write: a burst of creates costs one
  // syscall per watcher instead of one per event.
  let pending = "";
  let flushScheduled = false;
  const flush = () => {
    flushScheduled = false;
    if (closed || pending === "") return;
    const chunk = pending;
    pending = "";
    res.write(chunk);
    if (res.writableLength > MAX_BUFFERED) stop();
  };
  const write = (line: string) => {
    if (closed) return;
    pending += line;
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };
  const emit = (type: string, get: KubeObject | (() => KubeObject), json: string | undefined) => {
    const obj = () => (typeof get === "function" ? get() : get);
    if (w.format === "json") {
      const body = json !== undefined && !needsConversion ? json : JSON.stringify(external(obj()));
      write(`{"type":"${type}","object":${body}}\n`);
    } else if (w.format === "partial") {
      write(`{"type":"${type}","object":${JSON.stringify(partialMetadata(external(obj())))}}\n`);
    } else {
      const o = external(obj());
      const table = toTable(def, [o], { resourceVersion: o.metadata.resourceVersion! }, w.includeObject, w.now());
      write(`{"type":"${type}","object":${JSON.stringify(table)}}\n`);
    }
  };
  const bookmark = (annotations?: Record<string, string>) => {
    const metadata: Record<string, unknown> = { resourceVersion: String(store.currentRV()) };
    if (annotations) metadata["annotations"] = annotations;
    write(
      `${JSON.stringify({ type: "BOOKMARK", object: { kind: def.kind, apiVersion: apiVersionOf(def), metadata } })}\n`,
    );
  };
  const onEvent = (e: StoreEvent) => {
    const now = matches(e.object);
    if (e.type === "ADDED") {
      if (now) emit("ADDED", e.object, e.json);
    } else if (e.type === "DELETED") {
      if (matches(e.prev)) emit("DELETED", e.object, e.json);
    } else {
      const before = matches(e.prev);
      if (now && before) emit("MODIFIED", e.object, e.json);
      else if (now) emit("ADDED", e.object, e.json);
      else if (before) emit("DELETED", e.object, e.json);
    }
  };

  const rv = w.resourceVersion;
  try {
    if (rv === undefined || rv === "" || rv === "0") {
      for (const entry of store.scan(def.storage, ns)) {
        if (matchesLabels(w.labels, entry.labels) && matchesFieldValues(w.fields, entry.fields))
          emit("ADDED", () => entry.object, entry.json);
      }
      if (w.sendInitialEvents && w.allowBookmarks) bookmark({ "k8s.io/initial-events-end": "true" });
      unsubscribe = store.watch(def.storage, def, undefined, onEvent);
    } else {
      const since = Number(rv);
      if (!Number.isInteger(since) || since < 0)
        throw new ApiError(400, "BadRequest", `invalid resource version: "${rv}"`);
      unsubscribe = store.watch(def.storage, def, since, onEvent);
    }
  } catch (error) {
    if (error instanceof ApiError) {
      write(`${JSON.stringify({ type: "ERROR", object: error.toStatus() })}\n`);
      stop();
      return;
    }
    throw error;
  }
  if (w.allowBookmarks) timers.push(setInterval(() => bookmark(), w.bookmarkIntervalMs));
  if (w.timeoutSeconds !== undefined) timers.push(setTimeout(stop, w.timeoutSeconds * 1000));
}
