import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { ANNOTATION_STOP_DECISION, type TrainingRun } from "@nnunet-operator/api";
import { KubeApiError, type KubeObject, Resources } from "@nnunet-operator/kube";
import { FakeKubePort } from "@nnunet-operator/kube/testing";
import type { CommandContext } from "../context.js";
import { NOW, queuedRun, succeededRun, trainingRun } from "../testing/runs.js";
import { gpuFigures } from "../view/format.js";
import { stopCommand } from "./stop.js";
import { watchRuns } from "./watch.js";

// Command adapters over the kube package's fake port: the paths a devcluster cannot
// provoke on demand (a write conflict, a terminal resize).

async function seed(port: FakeKubePort, ...runs: TrainingRun[]): Promise<void> {
  for (const run of runs) {
    const { status, metadata, ...rest } = run;
    const key = { namespace: metadata.namespace as string, name: metadata.name as string };
    await port.create(Resources.trainingRuns, { ...rest, metadata: key } as KubeObject);
    await port.patchStatus(Resources.trainingRuns, key, { status }, { type: "merge" });
  }
}

function output() {
  const emitter = new EventEmitter();
  let text = "";
  return {
    write: (t: string) => ((text += t), true),
    on: (e: "resize", l: () => void) => emitter.on(e, l),
    off: (e: "resize", l: () => void) => emitter.off(e, l),
    emit: (e: string) => emitter.emit(e),
    text: () => text,
  };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), "timed out");
}

describe("stop over a fake port", () => {
  it("re-reads and decides again when the Job changed between read and patch (409 Conflict)", async () => {
    const port = new FakeKubePort();
    await seed(port, trainingRun());
    await port.create(Resources.jobs, {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "topcow-ctamra-fold-0", namespace: "default" },
      spec: {},
    });
    port.failNext(
      "patch",
      new KubeApiError("the object has been modified", { code: 409, reason: "Conflict", retryable: true }),
    );
    const out = output();
    const ctx: CommandContext = {
      port,
      namespace: "default",
      stdout: out,
      stderr: out,
      now: () => NOW,
      signal: new AbortController().signal,
    };
    assert.equal(await stopCommand(ctx, "topcow-ctamra", "0", undefined), 0);
    assert.equal(port.writes().filter((w) => w.verb === "patch").length, 2);
    const job = await port.get<KubeObject & { spec: { suspend?: boolean } }>(Resources.jobs, {
      namespace: "default",
      name: "topcow-ctamra-fold-0",
    });
    assert.equal(job.spec.suspend, true);
    assert.match(job.metadata.annotations?.[ANNOTATION_STOP_DECISION] ?? "", /"policy":"Manual"/);
  });
});

describe("watchRuns over a fake port", () => {
  it("clears the screen and draws anew after the terminal is resized", async () => {
    const port = new FakeKubePort();
    await seed(port, trainingRun(), queuedRun());
    const out = output();
    const abort = new AbortController();
    let width = 120;
    const watching = watchRuns({
      port,
      namespace: "default",
      out,
      tty: true,
      width: () => width,
      now: () => NOW,
      signal: abort.signal,
      coalesceMs: 1,
    });
    try {
      await until(() => out.text().includes("queue"));
      const before = out.text().length;
      width = 60;
      out.emit("resize");
      await until(() => out.text().length > before);
      const redraw = out.text().slice(before);
      assert.ok(redraw.startsWith("\x1b[2J\x1b[H"), JSON.stringify(redraw.slice(0, 12)));
      assert.ok(redraw.includes(" 48% "), "the narrow frame swaps the bar for a percentage");
    } finally {
      abort.abort();
      assert.equal(await watching, "aborted");
    }
    assert.ok(out.text().endsWith("\x1b[?25h"));
  });

  it("without a TTY prints a line per change only", async () => {
    const port = new FakeKubePort();
    await seed(port, queuedRun("a", 2));
    const out = output();
    const abort = new AbortController();
    const watching = watchRuns({
      port,
      namespace: "default",
      run: "a",
      out,
      tty: false,
      width: () => 80,
      now: () => NOW,
      signal: abort.signal,
      coalesceMs: 1,
    });
    try {
      await until(() => out.text().includes("queued #2"));
      await port.patchStatus(
        Resources.trainingRuns,
        { namespace: "default", name: "a" },
        { status: { queue: { position: 1 } } },
        { type: "merge" },
      );
      await until(() => out.text().includes("queued #1"));
      assert.deepEqual(
        out
          .text()
          .trim()
          .split("\n")
          .map((l) => l.slice(9)),
        [
          "a: Queued",
          "a: queued #2 (NoGpuCapacity: needs 5 GPUs of NVIDIA-L40S, 0 free)",
          "a: queued #1 (NoGpuCapacity: needs 5 GPUs of NVIDIA-L40S, 0 free)",
        ],
      );
    } finally {
      abort.abort();
      await watching;
    }
  });

  it("hands each frame's runs to onDraw, so a summary printed after the view says what its last line said", async () => {
    const port = new FakeKubePort();
    await seed(port, succeededRun());
    const out = output();
    const abort = new AbortController();
    let drawn: readonly TrainingRun[] = [];
    const watching = watchRuns({
      port,
      namespace: "default",
      out,
      tty: false,
      width: () => 80,
      now: () => NOW,
      signal: abort.signal,
      coalesceMs: 1,
      onDraw: (runs) => (drawn = runs),
    });
    try {
      await until(() => out.text().includes("done summary: GPU-hours 9.6"));
      // The last epoch's time lands after the run finished: the figure moves once more.
      await port.patchStatus(
        Resources.trainingRuns,
        { namespace: "default", name: "done" },
        { status: { summary: { gpuHours: 9.7 }, totals: { gpuSecondsUsed: 34830 } } },
        { type: "merge" },
      );
      await until(() => out.text().includes("done summary: GPU-hours 9.7"));
    } finally {
      abort.abort();
      await watching;
    }
    const live = out
      .text()
      .split("\n")
      .filter((l) => l.includes("done summary: "))
      .map((l) => l.slice(l.indexOf("GPU-hours")));
    assert.equal(live.length, 2);
    assert.equal(live.at(-1), gpuFigures(drawn.find((r) => r.metadata.name === "done")?.status));
  });
});
