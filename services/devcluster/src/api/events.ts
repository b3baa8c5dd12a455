import type { KubeObject } from "./resources.js";

// core/v1 Events and events.k8s.io/v1 Events are one stored collection in two shapes, as
// in a real cluster: events.k8s.io objects are converted to the core form when stored and
// back when read (regarding/involvedObject, note/message, deprecated* fields).

type Obj = Record<string, unknown>;

const RENAMES: [string, string][] = [
  ["regarding", "involvedObject"],
  ["note", "message"],
  ["deprecatedCount", "count"],
  ["deprecatedFirstTimestamp", "firstTimestamp"],
  ["deprecatedLastTimestamp", "lastTimestamp"],
  ["deprecatedSource", "source"],
  ["reportingController", "reportingComponent"],
];

export function eventToCore(o: KubeObject): KubeObject {
  const out: Obj = { ...o, apiVersion: "v1", kind: "Event" };
  for (const [events, core] of RENAMES) {
    if (events in out) {
      out[core] = out[events];
      delete out[events];
    }
  }
  return out as KubeObject;
}

export function eventFromCore(o: KubeObject): KubeObject {
  const out: Obj = { ...o, apiVersion: "events.k8s.io/v1", kind: "Event" };
  for (const [events, core] of RENAMES) {
    if (core in out) {
      out[events] = out[core];
      delete out[core];
    }
  }
  return out as KubeObject;
}
