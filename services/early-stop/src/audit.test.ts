import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decideMode, sampleFraction } from "./audit.js";

describe("which folds are audited", () => {
  const cases: Array<{ name: string; args: Parameters<typeof decideMode>; want: "Enforce" | "Audit" }> = [
    {
      name: "a run in Audit mode is audited whatever the fraction",
      args: ["Audit", "Forecast", "u", "0", 0],
      want: "Audit",
    },
    { name: "an Enforce run with no sample is enforced", args: ["Enforce", "Forecast", "u", "0", 0], want: "Enforce" },
    {
      name: "an Enforce run with the whole sample is audited",
      args: ["Enforce", "Patience", "u", "0", 1],
      want: "Audit",
    },
    {
      name: "divergence is never audited: a NaN loss does not come back",
      args: ["Audit", "Divergence", "u", "0", 1],
      want: "Enforce",
    },
    { name: "a manual stop is never audited", args: ["Audit", "Manual", "u", "0", 1], want: "Enforce" },
  ];
  for (const c of cases) it(c.name, () => assert.equal(decideMode(...c.args), c.want));

  it("the sample is the same on every call (replicas, terms and replays agree)", () => {
    assert.equal(sampleFraction("0b7c-uid/3"), sampleFraction("0b7c-uid/3"));
    assert.notEqual(sampleFraction("0b7c-uid/3"), sampleFraction("0b7c-uid/4"));
  });

  it("audits close to the configured share of folds over many runs", () => {
    for (const fraction of [0.1, 0.25]) {
      let audited = 0;
      const n = 20_000;
      for (let i = 0; i < n; i++)
        if (decideMode("Enforce", "Forecast", `${(i * 2654435761) >>> 0}-${i}`, String(i % 5), fraction) === "Audit")
          audited++;
      assert.ok(Math.abs(audited / n - fraction) < 0.01, `${fraction}: audited ${audited / n}`);
    }
  });
});
