import { test } from "node:test";
import assert from "node:assert/strict";
import { FoldHistory, type EpochPoint, type LineSums, type TrendSignal } from "./history.js";
import { noise } from "./testing.js";

// The running sums behind the trend fit: a window's sums read in O(1) must equal the sums
// over the points it covers, through missing values, gaps in the epochs and a resume that
// truncates the history.

function points(n: number, skip: (e: number) => boolean = () => false): EpochPoint[] {
  const z = noise(7);
  const out: EpochPoint[] = [];
  for (let e = 0; e < n; e++) {
    if (skip(e)) continue;
    out.push({
      epoch: e,
      pseudoDiceMean: e % 17 === 3 ? undefined : 0.7 + 0.1 * z(e),
      valLoss: e % 11 === 5 ? Number.NaN : -0.5 - 0.01 * z(e + 1),
    });
  }
  return out;
}

function direct(ps: readonly EpochPoint[], signal: TrendSignal, index: number, window: number): LineSums {
  const last = ps[index]?.epoch ?? 0;
  const s = { n: 0, sx: 0, sy: 0, sxx: 0, sxy: 0, syy: 0 };
  for (const p of ps.slice(0, index + 1)) {
    if (p.epoch <= last - window) continue;
    const raw = signal === "pseudoDice" ? p.pseudoDiceMean : p.valLoss === undefined ? undefined : -p.valLoss;
    if (raw === undefined || !Number.isFinite(raw)) continue;
    s.n += 1;
    s.sx += p.epoch;
    s.sy += raw;
    s.sxx += p.epoch * p.epoch;
    s.sxy += p.epoch * raw;
    s.syy += raw * raw;
  }
  return s;
}

function assertClose(a: LineSums, b: LineSums, what: string): void {
  for (const k of ["n", "sx", "sy", "sxx", "sxy", "syy"] as const)
    assert.ok(Math.abs(a[k] - b[k]) <= 1e-9 * Math.max(1, Math.abs(b[k])), `${what} ${k}: ${a[k]} vs ${b[k]}`);
}

const cases: { name: string; points: EpochPoint[]; windows: number[] }[] = [
  { name: "every epoch present", points: points(400), windows: [1, 20, 120, 1000] },
  {
    name: "epochs missing (a gap in the log) and values missing or NaN",
    points: points(400, (e) => e >= 100 && e < 130),
    windows: [20, 50, 300],
  },
];

for (const c of cases) {
  test(`a window's sums equal the sums over its points: ${c.name}`, () => {
    const h = new FoldHistory();
    for (const p of c.points) h.append(p);
    for (const signal of ["pseudoDice", "negValLoss"] as const) {
      for (const window of c.windows) {
        for (const index of [0, 1, 57, 150, c.points.length - 1])
          assertClose(
            h.lineSums(signal, index, window),
            direct(c.points, signal, index, window),
            `${signal} window ${window} at ${index}`,
          );
      }
    }
  });
}

test("after a resume truncates the history, the sums are those of the epochs that stay and the new ones", () => {
  const h = new FoldHistory();
  const first = points(300);
  for (const p of first) h.append(p);
  h.truncateFrom(250);
  const resumed = points(320)
    .slice(250)
    .map((p) => ({ ...p, pseudoDiceMean: (p.pseudoDiceMean ?? 0.7) + 0.05 }));
  for (const p of resumed) h.append(p);
  const now = [...first.slice(0, 250), ...resumed];
  assertClose(
    h.lineSums("pseudoDice", now.length - 1, 100),
    direct(now, "pseudoDice", now.length - 1, 100),
    "after the resume",
  );
});
