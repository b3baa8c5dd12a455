import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { OperatorMetrics } from "./metrics.js";

describe("the audit histograms", () => {
  it("exist at zero for every policy from the start, so that the alert's increase() sees the first audit", async () => {
    const text = await new OperatorMetrics(new Registry()).registry.metrics();
    for (const policy of ["Forecast", "Patience", "Plateau"]) {
      assert.match(text, new RegExp(`^nnunet_audit_best_ema_lost_count\\{policy="${policy}"\\} 0$`, "m"));
      assert.match(text, new RegExp(`^nnunet_audit_gpu_seconds_saved_count\\{policy="${policy}"\\} 0$`, "m"));
    }
  });

  it("observes an audited fold's loss and saving under its policy", async () => {
    const m = new OperatorMetrics(new Registry());
    m.observeAudit("Forecast", 0.0035, 6900);
    m.observeAudit("Forecast", 0, undefined);
    const text = await m.registry.metrics();
    assert.match(text, /^nnunet_audit_best_ema_lost_count\{policy="Forecast"\} 2$/m);
    assert.match(text, /^nnunet_audit_best_ema_lost_sum\{policy="Forecast"\} 0\.0035$/m);
    assert.match(text, /^nnunet_audit_best_ema_lost_bucket\{le="0.002",policy="Forecast"\} 1$/m);
    assert.match(text, /^nnunet_audit_gpu_seconds_saved_sum\{policy="Forecast"\} 6900$/m);
    assert.match(text, /^nnunet_audit_gpu_seconds_saved_count\{policy="Forecast"\} 1$/m);
  });
});

describe("the outlook gauges", () => {
  it("carry each training fold's predicted finish and a queued run's estimated start, and drop what no longer holds", async () => {
    const m = new OperatorMetrics(new Registry());
    m.setOutlook(
      "ml",
      "liver",
      new Map([
        ["0", "2026-01-01T01:00:00Z"],
        ["1", "2026-01-01T02:00:00Z"],
      ]),
      undefined,
    );
    m.setOutlook("ml", "late", new Map(), "2026-01-01T01:30:00Z");
    let text = await m.registry.metrics();
    assert.match(
      text,
      /^nnunet_fold_predicted_finish_timestamp_seconds\{namespace="ml",run="liver",fold="1"\} 1767232800$/m,
    );
    assert.match(text, /^nnunet_run_estimated_start_timestamp_seconds\{namespace="ml",run="late"\} 1767231000$/m);
    m.setOutlook("ml", "liver", new Map([["1", "2026-01-01T02:00:00Z"]]), undefined);
    m.forgetRun("ml", "late");
    text = await m.registry.metrics();
    assert.doesNotMatch(text, /fold="0"/);
    assert.doesNotMatch(text, /run="late"/);
  });
});
