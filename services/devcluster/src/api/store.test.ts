import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ApiError } from "./errors.js";
import { Store, type StoreEvent } from "./store.js";
import type { KubeObject } from "./resources.js";

const cm = (name: string, namespace = "default"): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace },
});
const gr = { group: "", resource: "configmaps" };

describe("store", () => {
  it("gives every write a new cluster-wide resourceVersion, across resources", () => {
    const s = new Store();
    const a = s.put("configmaps", cm("a"));
    const b = s.put("secrets", { ...cm("b"), kind: "Secret" });
    assert.ok(Number(b.metadata.resourceVersion) > Number(a.metadata.resourceVersion));
    assert.equal(s.currentRV(), Number(b.metadata.resourceVersion));
  });

  it("scans in namespace/name order, by namespace and after a key", () => {
    const s = new Store();
    for (const [ns, n] of [
      ["b", "2"],
      ["a", "9"],
      ["b", "1"],
      ["a", "1"],
    ] as const)
      s.put("configmaps", cm(n, ns));
    const names = (ns?: string, after?: string) =>
      [...s.scan("configmaps", ns, after)].map((e) => `${e.object.metadata.namespace}/${e.object.metadata.name}`);
    assert.deepEqual(names(), ["a/1", "a/9", "b/1", "b/2"]);
    assert.deepEqual(names("b"), ["b/1", "b/2"]);
    assert.deepEqual(names(undefined, "a/9"), ["b/1", "b/2"]);
  });

  it("replays the events after a resourceVersion to a new watcher, then live ones", () => {
    const s = new Store();
    const first = s.put("configmaps", cm("a"));
    s.put("configmaps", cm("b"));
    s.remove("configmaps", "default", "a");
    const seen: string[] = [];
    s.watch("configmaps", gr, Number(first.metadata.resourceVersion), (e: StoreEvent) =>
      seen.push(`${e.type} ${e.object.metadata.name}`),
    );
    s.put("configmaps", cm("c"));
    assert.deepEqual(seen, ["ADDED b", "DELETED a", "ADDED c"]);
  });

  it("answers 410 Expired for a resourceVersion older than the kept history", () => {
    const s = new Store({ historySize: 3 });
    const old = s.put("configmaps", cm("x"));
    for (let i = 0; i < 5; i++) s.put("configmaps", cm(`y${i}`));
    assert.throws(
      () => s.watch("configmaps", gr, Number(old.metadata.resourceVersion) - 1, () => undefined),
      (e: unknown) => e instanceof ApiError && e.code === 410 && e.reason === "Expired",
    );
    assert.equal(s.isExpired("configmaps", s.currentRV() - 1), false);
  });

  it("keeps writing and notifying when one listener throws", () => {
    const s = new Store();
    const seen: string[] = [];
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    s.watch("configmaps", gr, undefined, () => {
      throw new Error("listener bug");
    });
    s.watch("configmaps", gr, undefined, (e) => seen.push(e.object.metadata.name!));
    s.put("configmaps", cm("a"));
    assert.deepEqual(seen, ["a"]);
    assert.equal(s.get("configmaps", "default", "a")?.metadata.name, "a");
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        process.off("warning", onWarning);
        assert.deepEqual(warnings, ["listener bug"]);
        resolve();
      }),
    );
  });

  it("lets a watch start from a resourceVersion of another resource's write", () => {
    const s = new Store({ historySize: 2 });
    for (let i = 0; i < 5; i++) s.put("secrets", { ...cm(`s${i}`), kind: "Secret" });
    assert.equal(s.isExpired("configmaps", 1), false);
  });
});
