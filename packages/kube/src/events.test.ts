import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "./testing/fake-clock.js";
import { KubeApiError } from "./errors.js";
import { type EventApi, EventRecorder, buildEvent, eventName } from "./events.js";
import { type KubeObject, Resources } from "./port.js";
import { FakeKubePort } from "./testing/fake-port.js";

const run: KubeObject = {
  apiVersion: "nnunet-operator.io/v1alpha1",
  kind: "TrainingRun",
  metadata: { namespace: "ml", name: "liver", uid: "uid-1", resourceVersion: "5" },
};
const reporter = { controller: "nnunet-operator.io/operator", instance: "operator-0" };

function recorder(api: EventApi = "events.k8s.io/v1") {
  const port = new FakeKubePort();
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const errors: unknown[] = [];
  const r = new EventRecorder({ port, clock, reporter, api, onError: (e) => errors.push(e) });
  return { port, clock, r, errors };
}

describe("buildEvent", () => {
  it("fills the fields events.k8s.io/v1 requires, truncating an overlong note", () => {
    const e = buildEvent(
      "events.k8s.io/v1",
      {
        regarding: { kind: "TrainingRun", name: "liver", namespace: "ml", uid: "u" },
        type: "Warning",
        reason: "NoGpuCapacity",
        note: "x".repeat(5000),
      },
      "liver.1",
      Date.UTC(2026, 0, 1),
      reporter,
    );
    assert.equal(e.apiVersion, "events.k8s.io/v1");
    assert.equal(e.eventTime, "2026-01-01T00:00:00.000000Z");
    assert.equal(e.action, "NoGpuCapacity", "the action defaults to the reason");
    assert.equal((e.note as string).length, 1024);
    assert.equal(e.reportingController, reporter.controller);
    assert.deepEqual(e.regarding, { kind: "TrainingRun", name: "liver", namespace: "ml", uid: "u" });
  });

  it("builds a core/v1 Event with count and timestamps when asked for that API", () => {
    const e = buildEvent(
      "v1",
      { regarding: { name: "liver", namespace: "ml" }, type: "Normal", reason: "Admitted", note: "fold 0" },
      "liver.1",
      Date.UTC(2026, 0, 1),
      reporter,
    );
    assert.equal(e.count, 1);
    assert.equal(e.firstTimestamp, "2026-01-01T00:00:00Z");
    assert.deepEqual(e.involvedObject, { name: "liver", namespace: "ml" });
  });

  it("names events after the object with distinct suffixes within one millisecond", () => {
    assert.notEqual(eventName("liver", 1000, 0), eventName("liver", 1000, 1));
    assert.match(eventName("liver", 1000, 0), /^liver\.[0-9a-f]+$/);
  });
});

describe("EventRecorder", () => {
  it("creates one Event, then bumps its series count for repeats within the window", async () => {
    const { port, clock, r } = recorder();
    await r.event(run, "Warning", "NoGpuCapacity", "waiting for 1 GPU");
    await clock.advance(30_000);
    await r.event(run, "Warning", "NoGpuCapacity", "waiting for 1 GPU");
    await r.event(run, "Warning", "NoGpuCapacity", "waiting for 1 GPU");
    const writes = port.writes();
    assert.deepEqual(
      writes.map((w) => w.verb),
      ["create", "patch", "patch"],
    );
    const { items } = await port.list(Resources.events);
    assert.equal(items.length, 1);
    assert.deepEqual((items[0] as { series?: unknown }).series, {
      count: 3,
      lastObservedTime: "2026-01-01T00:00:30.000000Z",
    });
  });

  it("starts a new Event for a different reason, note or object, and after the window", async () => {
    const { port, clock, r } = recorder();
    await r.event(run, "Normal", "Admitted", "fold 0");
    await r.event(run, "Normal", "Admitted", "fold 1");
    await r.event(run, "Normal", "Calibrated", "fold 1");
    await r.event(
      { ...run, metadata: { ...run.metadata, name: "spleen", uid: "uid-2" } },
      "Normal",
      "Admitted",
      "fold 0",
    );
    await clock.advance(7 * 60_000);
    await r.event(run, "Normal", "Admitted", "fold 0");
    assert.deepEqual(
      port.writes().map((w) => w.verb),
      ["create", "create", "create", "create", "create"],
    );
  });

  it("creates a fresh Event when the one it would bump has expired", async () => {
    const { port, r } = recorder();
    await r.event(run, "Normal", "Admitted", "fold 0");
    port.failNext(
      "patch",
      new KubeApiError("gone", { code: 404, reason: "NotFound", retryable: false, status: { details: { name: "x" } } }),
    );
    await r.event(run, "Normal", "Admitted", "fold 0");
    assert.deepEqual(
      port.writes().map((w) => w.verb),
      ["create", "patch", "create"],
    );
  });

  it("never throws into the caller when the API fails, and reports the error", async () => {
    const { port, r, errors } = recorder();
    port.failNext("create", new KubeApiError("forbidden", { code: 403, reason: "Forbidden", retryable: false }));
    await assert.doesNotReject(r.event(run, "Warning", "Diverged", "loss is NaN"));
    assert.equal(errors.length, 1);
  });

  it("counts concurrent repeats in order without creating duplicates", async () => {
    const { port, r } = recorder("v1");
    await Promise.all([1, 2, 3, 4].map(() => r.event(run, "Normal", "Requeued", "again")));
    assert.deepEqual(
      port.writes().map((w) => w.verb),
      ["create", "patch", "patch", "patch"],
    );
    const { items } = await port.list(Resources.coreEvents);
    assert.equal((items[0] as { count?: number }).count, 4);
  });
});
