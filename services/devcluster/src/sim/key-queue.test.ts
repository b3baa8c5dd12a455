import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ApiError } from "../api/errors.js";
import { ignoreExpected, KeyQueue, type QueueFailure } from "./key-queue.js";

// The queue never swallows a failure: it is counted, reported, classified, and retried.

const collect = () => {
  const seen: QueueFailure[] = [];
  return { seen, reporter: { failed: (f: QueueFailure) => void seen.push(f) } };
};

describe("KeyQueue failures", () => {
  const cases: { name: string; error: unknown; expected: boolean }[] = [
    {
      name: "a conflict with a concurrent writer",
      error: new ApiError(409, "Conflict", "the object has been modified"),
      expected: true,
    },
    { name: "an object deleted meanwhile", error: new ApiError(404, "NotFound", 'pods "x" not found'), expected: true },
    {
      name: "a create in a namespace being deleted",
      error: new ApiError(403, "Forbidden", "unable to create new content in namespace a", {
        causes: [
          { reason: "NamespaceTerminating", message: "namespace a is being terminated", field: "metadata.namespace" },
        ],
      }),
      expected: true,
    },
    {
      name: "a write the authoriser or an admission plugin refuses",
      error: new ApiError(403, "Forbidden", 'pods "x" is forbidden: no PriorityClass with name missing was found'),
      expected: false,
    },
    {
      name: "an invalid write (a bug in the controller)",
      error: new ApiError(422, "Invalid", "spec: Required value"),
      expected: false,
    },
    { name: "a thrown TypeError", error: new TypeError("cannot read properties of undefined"), expected: false },
  ];
  for (const c of cases) {
    it(`reports ${c.name} as ${c.expected ? "expected" : "unexpected"}, counts it and retries the key`, async () => {
      const { seen, reporter } = collect();
      let calls = 0;
      const q = new KeyQueue(
        async () => {
          calls++;
          if (calls === 1) throw c.error;
        },
        { name: "test-queue", reporter, maxBackoffMs: 1 },
      );
      q.add("ns/a");
      await q.idle();
      await new Promise((r) => setTimeout(r, 30));
      await q.idle();
      assert.equal(calls, 2, "retried after the failure");
      assert.deepEqual(
        seen.map((f) => [f.queue, f.key, f.attempt, f.expected, f.error]),
        [["test-queue", "ns/a", 1, c.expected, c.error]],
      );
      assert.deepEqual([q.failureCount, q.unexpectedFailures], [1, c.expected ? 0 : 1]);
      q.stop();
    });
  }

  it("makes idle() reject with the first unexpected failure when asked to (tests fail on it)", async () => {
    const { reporter } = collect();
    const boom = new Error("reconcile bug");
    const q = new KeyQueue(
      async () => {
        throw boom;
      },
      { reporter, failOnUnexpected: true, maxBackoffMs: 1000 },
    );
    q.add("k");
    await assert.rejects(q.idle(), (e) => e === boom);
    q.stop();
  });

  it("keeps working when the reporter itself throws", async () => {
    let calls = 0;
    const q = new KeyQueue(
      async () => {
        if (++calls === 1) throw new Error("first");
      },
      {
        reporter: {
          failed: () => {
            throw new Error("reporter down");
          },
        },
        maxBackoffMs: 1,
      },
    );
    const write = process.stderr.write;
    const lines: string[] = [];
    process.stderr.write = ((chunk: string) => (lines.push(chunk), true)) as typeof process.stderr.write;
    try {
      q.add("k");
      await q.idle();
      await new Promise((r) => setTimeout(r, 30));
      await q.idle();
    } finally {
      process.stderr.write = write;
    }
    assert.equal(calls, 2);
    assert.match(lines.join(""), /"msg":"reconcile failed".*"reporter down"/);
    q.stop();
  });

  it("ignoreExpected lets a write inside a reconcile skip a conflict or a vanished object, and nothing else", async () => {
    const conflict = new ApiError(409, "Conflict", "the object has been modified");
    const gone = new ApiError(404, "NotFound", 'pods "x" not found');
    const forbidden = new ApiError(403, "Forbidden", "namespace is being terminated");
    assert.equal(await Promise.reject(conflict).catch(ignoreExpected), undefined);
    assert.equal(await Promise.reject(gone).catch(ignoreExpected), undefined);
    await assert.rejects(Promise.reject(forbidden).catch(ignoreExpected), (e) => e === forbidden);
  });
});
