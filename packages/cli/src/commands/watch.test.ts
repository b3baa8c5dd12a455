import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { queuedRun, trainingRun } from "../testing/runs.js";
import { redrawSequence, selectRuns } from "./watch.js";

describe("redrawSequence", () => {
  it("draws the first frame without moving the cursor", () => {
    assert.deepEqual(redrawSequence(0, "a\nb\n", 24), { text: "\x1b[Ja\nb\n", lines: 2 });
  });
  it("moves up over the previous frame and clears before drawing the next", () => {
    assert.deepEqual(redrawSequence(2, "a\nb\nc\n", 24), { text: "\x1b[2F\x1b[Ja\nb\nc\n", lines: 3 });
  });
  it("cuts a frame taller than the terminal, since the cursor cannot move above the screen", () => {
    const { text, lines } = redrawSequence(0, "1\n2\n3\n4\n5\n", 3);
    assert.equal(lines, 3);
    assert.equal(text, "\x1b[J1\n2\n... 3 more lines: widen or heighten the terminal\n");
  });
});

describe("selectRuns", () => {
  const runs = [trainingRun(), queuedRun("waiting"), queuedRun("other-ns")];
  runs[2] = { ...runs[2]!, metadata: { ...runs[2]!.metadata, namespace: "team-b" } };
  it("without a run: every run", () => assert.equal(selectRuns(runs, undefined, undefined).length, 3));
  it("with a run: that run and the waiting runs of its namespace", () => {
    assert.deepEqual(
      selectRuns(runs, "topcow-ctamra", "default").map((r) => r.metadata.name),
      ["topcow-ctamra", "waiting"],
    );
  });
  it("a run that does not exist: only the queue", () => {
    assert.deepEqual(
      selectRuns(runs, "nope", "default").map((r) => r.metadata.name),
      ["waiting"],
    );
  });
});
