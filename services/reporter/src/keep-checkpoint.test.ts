import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { keepCheckpointAtDecision } from "./keep-checkpoint.js";

const decision = (over: Record<string, unknown> = {}) =>
  new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 1,
      epoch: 494,
      policy: "Forecast",
      reason: "r",
      decidedAt: "2026-01-01T00:00:00.000Z",
      mode: "Audit",
      ...over,
    }),
  );

describe("keeping checkpoint_best.pth as of an audit's would-be stop", () => {
  it("copies it whole, answers kept, and a repeat finds the copy without copying again", async () => {
    const dir = await mkdtemp(join(tmpdir(), "keep-"));
    try {
      await writeFile(join(dir, "checkpoint_best.pth"), "best at 395");
      assert.deepEqual(await keepCheckpointAtDecision(dir, decision()), {
        schemaVersion: 1,
        kept: true,
        file: "checkpoint_best_at_decision.pth",
      });
      await writeFile(join(dir, "checkpoint_best.pth"), "a later best at 600");
      assert.deepEqual(await keepCheckpointAtDecision(dir, decision()), {
        schemaVersion: 1,
        kept: true,
        file: "checkpoint_best_at_decision.pth",
      });
      assert.equal(await readFile(join(dir, "checkpoint_best_at_decision.pth"), "utf8"), "best at 395");
      assert.deepEqual(
        (await readdir(dir)).sort(),
        ["checkpoint_best.pth", "checkpoint_best_at_decision.pth"],
        "no temporary file left",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const refusals: Array<{ name: string; request: Uint8Array; error: RegExp }> = [
    {
      name: "an enforced decision (the stop keeps checkpoint_best.pth itself)",
      request: decision({ mode: "Enforce" }),
      error: /not an audit/,
    },
    {
      name: "a request that is not a stop decision",
      request: new TextEncoder().encode("{}"),
      error: /not a stop decision/,
    },
    {
      name: "a fold without checkpoint_best.pth yet",
      request: decision(),
      error: /cannot copy .*checkpoint_best\.pth/,
    },
  ];
  for (const c of refusals) {
    it(`answers not kept, saying why, for ${c.name}`, async () => {
      const dir = await mkdtemp(join(tmpdir(), "keep-"));
      try {
        const reply = await keepCheckpointAtDecision(dir, c.request);
        assert.equal(reply.kept, false);
        assert.match(reply.error ?? "", c.error);
        assert.deepEqual(await readdir(dir), []);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
