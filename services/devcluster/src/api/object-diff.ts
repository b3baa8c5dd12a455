import { deepEqual } from "./patch.js";
import type { KubeObject } from "./resources.js";

// Comparisons the registry makes between the stored and the next version of an object.

/**
 * Anything but metadata (and status, where a status subresource keeps it apart) changed:
 * the real server bumps generation then.
 */
export function changedBeyondMetadata(a: KubeObject, b: KubeObject, statusIsSubresource = true): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (k === "metadata" || (k === "status" && statusIsSubresource) || k === "apiVersion" || k === "kind") continue;
    if (!deepEqual(a[k], b[k])) return true;
  }
  return false;
}

/** A no-op write does not bump resourceVersion on the real server either. */
export function sameObject(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => ({
    ...o,
    metadata: {
      ...o.metadata,
      resourceVersion: undefined,
      managedFields: (o.metadata.managedFields ?? []).map((e) => ({ ...e, time: undefined })),
    },
  });
  return deepEqual(JSON.parse(JSON.stringify(strip(a))), JSON.parse(JSON.stringify(strip(b))));
}
