// `npm run bench:finish`: the error distribution of the operator's predicted finish on the
// real curves, from 20% of the schedule on (see predicted-finish-replay.ts).
import { completeCurves, quantile, replayEnforcedEnd, replayFinish } from "./predicted-finish-replay.js";

const results = completeCurves().map((c) => replayFinish(c, 0.2));
const pct = (x: number | undefined): string => (x === undefined ? "-" : `${(100 * x).toFixed(1)}%`);
process.stdout.write(`predicted finish vs real end, from 20% of the schedule on, ${results.length} complete curves\n`);
process.stdout.write(
  "curve                                                                          epochs  worst(schedule end)  worst(Forecast stop)\n",
);
for (const r of results)
  process.stdout.write(
    `${r.name.padEnd(80)} ${String(r.maxEpochs).padStart(5)}  ${pct(r.worstToScheduleEnd).padStart(19)}  ${pct(r.worstToForecastStop).padStart(20)}\n`,
  );
const all = results.flatMap((r) => r.errors.map(Math.abs)).sort((a, b) => a - b);
const signed = results.flatMap((r) => r.errors).sort((a, b) => a - b);
process.stdout.write(
  `\nall ${all.length} predictions (|error| / fold duration): median ${pct(quantile(all, 0.5))}, p90 ${pct(quantile(all, 0.9))}, p99 ${pct(quantile(all, 0.99))}, max ${pct(all[all.length - 1])}\n`,
);
process.stdout.write(`predictions within 10%: ${pct(all.filter((e) => e <= 0.1).length / all.length)}\n`);
process.stdout.write(
  `signed: min ${pct(signed[0])}, median ${pct(quantile(signed, 0.5))}, max ${pct(signed[signed.length - 1])}\n`,
);
process.stdout.write(
  `curves within 10% at every epoch from 20% on: ${results.filter((r) => r.worstToScheduleEnd <= 0.1).length} of ${results.length}\n`,
);
const stopped = results.filter((r) => r.worstToForecastStop !== undefined);
process.stdout.write(
  `against the Forecast stop instead (${stopped.length} curves it stops): within 10% ${stopped.filter((r) => (r.worstToForecastStop ?? 1) <= 0.1).length} of ${stopped.length}\n`,
);

// Against the end an enforcing run has: the schedule's end (what the operator predicts) and
// the Forecast bound extrapolated to its stop (tried, not adopted).
const enforced = completeCurves().map((c) => replayEnforcedEnd(c, 0.2));
process.stdout.write(
  `\nagainst the end an enforcing run has (the Forecast stop, else the schedule's end), ${enforced.length} curves:\n`,
);
for (const [label, pick] of [
  ["schedule end (the operator)", (e: (typeof enforced)[number]) => e.toScheduleEnd],
  ["extrapolated Forecast stop", (e: (typeof enforced)[number]) => e.toExtrapolatedStop],
] as const) {
  const errs = enforced.flatMap((e) => pick(e).map(Math.abs)).sort((a, b) => a - b);
  const curvesWithin = enforced.filter((e) => pick(e).every((x) => Math.abs(x) <= 0.1)).length;
  process.stdout.write(
    `  ${label.padEnd(28)} median ${pct(quantile(errs, 0.5))}, p90 ${pct(quantile(errs, 0.9))}, max ${pct(errs[errs.length - 1])}; within 10% ${pct(errs.filter((e) => e <= 0.1).length / errs.length)} of predictions, ${curvesWithin} of ${enforced.length} curves at every epoch\n`,
  );
}
