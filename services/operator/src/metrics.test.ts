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
