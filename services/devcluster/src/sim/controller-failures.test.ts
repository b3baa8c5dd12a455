import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ApiError } from "../api/errors.js";
import { Cluster } from "../cluster.js";
import { JobController } from "../jobs/job-controller.js";
import { startDevCluster } from "../server.js";
import { WorkloadController } from "../workloads/controller-base.js";
import {
  assertNoUnexpectedFailures,
  ControllerFailureLog,
  UnexpectedControllerFailuresError,
} from "./controller-failures.js";
import type { QueueFailure } from "./key-queue.js";
import { makeJob, waitFor } from "./sim-test-support.js";

// Every controller queue reports to the cluster's one failure log, under its own name;
// a harness fails on an unexpected failure instead of a timeout somewhere else.

const quiet = () => {
  const seen: QueueFailure[] = [];
  return { seen, sink: { failed: (f: QueueFailure) => void seen.push(f) } };
};
const failure = (queue: string, key: string, expected: boolean, error: unknown = new Error("boom")): QueueFailure => ({
  queue,
  key,
  attempt: 1,
  expected,
  error,
});

/** A ConfigMap controller whose reconcile fails the way the ConfigMap's name says. */
class FailingController extends WorkloadController {
  constructor(cluster: Cluster) {
    super(cluster, "failing-controller", { storage: "configmaps", group: "", resource: "configmaps" });
  }

  protected async reconcile(key: string): Promise<void> {
    const [ns, name] = key.split("/") as [string, string];
    const cm = this.cluster.store.get("configmaps", ns, name);
    if (!cm) return;
    if (name === "conflict") {
      // A write from a stale read: the registry answers 409 as it would to a concurrent writer.
      const stale = { ...structuredClone(cm), metadata: { ...cm.metadata, resourceVersion: "1" } };
      await this.cluster.registry.update(this.cluster.resource("", "v1", "configmaps"), ns, name, stale, {});
    }
    if (name === "bug") throw new TypeError("cannot read properties of undefined (reading 'spec')");
  }
}

describe("ControllerFailureLog", () => {
  it("hands each failure to its sink, keeps it with its message and counts it per queue and kind", () => {
    const { seen, sink } = quiet();
    const log = new ControllerFailureLog(sink);
    log.failed(failure("kubelet", "default/a", false, new TypeError("x is undefined")));
    log.failed(failure("job-controller", "default/j", true, new ApiError(409, "Conflict", "modified")));
    log.failed(failure("kubelet", "default/b", false, "a string"));
    assert.equal(seen.length, 3);
    assert.deepEqual(
      log.list().map((f) => [f.queue, f.key, f.expected, f.message]),
      [
        ["kubelet", "default/a", false, "TypeError: x is undefined"],
        ["job-controller", "default/j", true, "ApiError: modified"],
        ["kubelet", "default/b", false, "thrown: a string"],
      ],
    );
    assert.deepEqual(log.counts(), [
      { queue: "job-controller", expected: true, count: 1 },
      { queue: "kubelet", expected: false, count: 2 },
    ]);
  });

  it("keeps the last failures of each kind, so a burst of conflicts never hides an unexpected one", () => {
    const log = new ControllerFailureLog(quiet().sink, 3);
    log.failed(failure("kubelet", "default/bug", false));
    for (let i = 0; i < 10; i++) log.failed(failure("kubelet", `default/c${i}`, true));
    assert.deepEqual(
      log.list().map((f) => f.key),
      ["default/bug", "default/c7", "default/c8", "default/c9"],
    );
    assert.deepEqual(log.counts(), [
      { queue: "kubelet", expected: false, count: 1 },
      { queue: "kubelet", expected: true, count: 10 },
    ]);
  });

  it("assertNoUnexpectedFailures passes on conflicts alone and lists queue, key and message otherwise", () => {
    const log = new ControllerFailureLog(quiet().sink);
    const source = { controllerFailures: () => log.list(), controllerFailureCounts: () => log.counts() };
    log.failed(failure("job-controller", "default/j", true));
    assertNoUnexpectedFailures(source);
    log.failed(failure("kubelet-status", "default/p", false, new Error("status write broke")));
    assert.throws(
      () => assertNoUnexpectedFailures(source),
      (e: unknown) =>
        e instanceof UnexpectedControllerFailuresError &&
        e.total === 1 &&
        /1 unexpected devcluster controller failure/.test(e.message) &&
        e.message.includes("kubelet-status default/p (1x, last attempt 1): Error: status write broke"),
    );
  });
});

describe("controller queues report to the cluster's failure log", () => {
  it("a reconcile that throws shows up under its queue name as unexpected, a 409 as expected", async () => {
    const dc = await startDevCluster({ tls: false });
    const controller = new FailingController(dc.cluster);
    const stop = controller.start();
    try {
      for (const name of ["conflict", "bug", "fine"])
        await dc.cluster.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "default" } });
      await waitFor("both failures", () => dc.controllerFailures().length >= 2 || undefined);
      const seen = dc.controllerFailures();
      const of = (key: string) => seen.find((f) => f.key === key);
      assert.equal(of("default/conflict")?.queue, "failing-controller");
      assert.equal(of("default/conflict")?.expected, true);
      assert.match(of("default/conflict")?.message ?? "", /^ApiError: .*modified/);
      assert.equal(of("default/bug")?.queue, "failing-controller");
      assert.equal(of("default/bug")?.expected, false);
      assert.equal(of("default/fine"), undefined);
      assert.ok(
        dc.controllerFailureCounts().some((c) => c.queue === "failing-controller" && !c.expected && c.count >= 1),
      );
      assert.throws(
        () => assertNoUnexpectedFailures(dc),
        /unexpected devcluster controller failure.*\n {2}failing-controller default\/bug \(\d+x, last attempt \d+\): TypeError: cannot read/,
      );
    } finally {
      stop();
      await dc.stop();
    }
  });

  it("the Job controller's failure to create a pod the API refuses is reported as job-controller's", async () => {
    const cluster = new Cluster();
    await cluster.start();
    const stop = new JobController(cluster).start();
    try {
      await cluster.create(
        makeJob("j", { priorityClassName: "missing", containers: [{ name: "c", image: "busybox:1.36" }] }),
      );
      const seen = await waitFor("the failure", () => cluster.controllerFailures.list()[0]);
      assert.deepEqual([seen.queue, seen.key, seen.expected], ["job-controller", "default/j", false]);
      assert.match(seen.message, /no PriorityClass with name missing was found/);
    } finally {
      stop();
      cluster.stop();
    }
  });
});
