import { test } from "node:test";
import assert from "node:assert/strict";
import { EpochMetrics, encodeLoss } from "@nnunet-operator/api";
import { NnunetLogParser, parseLogText, type ParsedEpoch } from "./nnunet-log.js";

// Behaviour of the parser on hand-made logs: the v2 and v1 formats, divergence, restarts,
// and lines that are truncated, corrupted or interleaved with other output.

function v2Epoch(
  epoch: number,
  o: { lr?: string; tl?: string; vl?: string; dice?: string; time?: string } = {},
): string[] {
  const t = `2024-01-01 10:${String(epoch % 60).padStart(2, "0")}:00.000001`;
  return [
    `${t}: `,
    `${t}: Epoch ${epoch}`,
    `${t}: Current learning rate: ${o.lr ?? "0.01"}`,
    `${t}: train_loss ${o.tl ?? "-0.5"}`,
    `${t}: val_loss ${o.vl ?? "-0.6"}`,
    `${t}: Pseudo dice [${o.dice ?? "0.8, 0.6"}]`,
    `${t}: Epoch time: ${o.time ?? "100.5"} s`,
  ];
}

function v1Epoch(epoch: number, nextLr: string, dice = "0.7, 0.9"): string[] {
  const t = "2021-05-15 18:58:02.499817";
  return [
    `${t}: `,
    `epoch:  ${epoch} `,
    `${t}: train loss : -0.4667 `,
    `${t}: validation loss: -0.6738 `,
    `${t}: Average global foreground Dice: [${dice}] `,
    `${t}: (interpret this as an estimate for the Dice of the different classes. This is not exact.) `,
    `${t}: lr: ${nextLr} `,
    `${t}: This epoch took 136.130301 s`,
    " ",
  ];
}

/** The same line as a plain print() writes it: without nnU-Net's timestamp. */
const unstamped = (line: string): string => line.replace(/^\d{4}-\d{2}-\d{2} [\d:.]+: ?/, "");

function parse(lines: string[], parser = new NnunetLogParser()): ParsedEpoch[] {
  return parseLogText(lines.join("\n"), parser);
}

const cases: { name: string; lines: string[]; expect: (epochs: ParsedEpoch[], p: NnunetLogParser) => void }[] = [
  {
    name: "a v2 epoch yields every metric, its EMA starting at the mean, and the UTC timestamp of its last line",
    lines: v2Epoch(0),
    expect: ([e]) =>
      assert.deepEqual(e, {
        epoch: 0,
        trainLoss: -0.5,
        valLoss: -0.6,
        pseudoDice: [0.8, 0.6],
        pseudoDiceMean: 0.7,
        emaPseudoDice: 0.7,
        newBest: true,
        epochTimeSeconds: 100.5,
        learningRate: 0.01,
        loggedAt: "2024-01-01T10:00:00.000001Z",
      }),
  },
  {
    name: "the EMA follows nnU-Net (0.9 old + 0.1 new) and newBest only when it rises",
    lines: [...v2Epoch(0, { dice: "0.5" }), ...v2Epoch(1, { dice: "0.9" }), ...v2Epoch(2, { dice: "0.0" })],
    expect: (es) => {
      assert.deepEqual(
        es.map((e) => e.emaPseudoDice?.toFixed(4)),
        ["0.5000", "0.5400", "0.4860"],
      );
      assert.deepEqual(
        es.map((e) => e.newBest),
        [true, true, false],
      );
    },
  },
  {
    name: "v1 prints the next epoch's learning rate; it is shifted onto the epoch that follows",
    lines: ["2021-05-15 18:56:00.157092: lr: 0.01 ", ...v1Epoch(0, "0.009989"), ...v1Epoch(1, "0.009977")],
    expect: (es) =>
      assert.deepEqual(
        es.map((e) => e.learningRate),
        [0.01, 0.009989],
      ),
  },
  {
    name: "a NaN or infinite loss survives as a number, so a diverging run can be stopped",
    lines: [...v2Epoch(0, { tl: "nan", vl: "inf" }), ...v2Epoch(1, { tl: "-inf", vl: "-0.1" })],
    expect: ([a, b]) => {
      assert.ok(Number.isNaN(a?.trainLoss));
      assert.equal(a?.valLoss, Infinity);
      assert.equal(b?.trainLoss, -Infinity);
      assert.equal(encodeLoss(a?.trainLoss ?? 0), "NaN");
    },
  },
  {
    name: "numpy 2 scalars in the pseudo Dice list are read as plain numbers",
    lines: v2Epoch(0, { dice: "np.float32(0.5056), np.float64(0.25)" }),
    expect: ([e]) => assert.deepEqual(e?.pseudoDice, [0.5056, 0.25]),
  },
  {
    name: "a NaN class Dice is kept but left out of the mean, as numpy's nanmean",
    lines: v2Epoch(0, { dice: "0.8, nan" }),
    expect: ([e]) => assert.equal(e?.pseudoDiceMean, 0.8),
  },
  {
    name: "SLURM noise, progress bars and wandb lines between metric lines are ignored",
    lines: [
      "wandb: Tracking run with wandb version 0.16.6",
      ...v2Epoch(0).flatMap((l) => [
        l,
        "  0%|          | 0/966 [00:00<?, ?it/s]\r 50%|#####     | 483/966",
        "using pin_memory on device 0",
      ]),
    ],
    expect: (es, p) => {
      assert.equal(es.length, 1);
      assert.equal(p.stats.garbled, 0);
    },
  },
  {
    name: "a truncated metric line is counted as garbled, and the epoch is still emitted without that field",
    lines: v2Epoch(0).map((l) => (l.includes("val_loss") ? `${l.slice(0, -3)}x` : l)),
    expect: ([e], p) => {
      assert.equal(e?.valLoss, undefined);
      assert.equal(e?.trainLoss, -0.5);
      assert.equal(p.stats.garbled, 1);
    },
  },
  {
    name: "a truncated pseudo Dice list leaves the epoch without Dice and carries the EMA forward",
    lines: [...v2Epoch(0, { dice: "0.5" }), ...v2Epoch(1).map((l) => (l.includes("Pseudo dice") ? l.slice(0, -4) : l))],
    expect: ([, b], p) => {
      assert.deepEqual(b?.pseudoDice, []);
      assert.equal(b?.pseudoDiceMean, undefined);
      assert.equal(b?.emaPseudoDice, 0.5);
      assert.equal(b?.newBest, false);
      assert.equal(p.stats.garbled, 1);
    },
  },
  {
    name: "an epoch whose end line was lost is emitted when the next epoch begins, if its Dice arrived",
    lines: [...v2Epoch(0).slice(0, -1), ...v2Epoch(1)],
    expect: (es) => {
      assert.deepEqual(
        es.map((e) => e.epoch),
        [0, 1],
      );
      assert.equal(es[0]?.epochTimeSeconds, undefined);
    },
  },
  {
    name: "an epoch interrupted by a restart is abandoned and re-run from the resume epoch",
    lines: [
      ...v2Epoch(0),
      ...v2Epoch(1).slice(0, 4),
      "Please cite the following paper when using nnU-Net:",
      ...v2Epoch(1, { dice: "0.9" }),
    ],
    expect: (es, p) => {
      assert.deepEqual(
        es.map((e) => e.epoch),
        [0, 1],
      );
      assert.equal(p.stats.abandoned, 1);
      assert.equal(es[1]?.pseudoDiceMean, 0.9);
    },
  },
  {
    name: "a resume from an older checkpoint rewinds the EMA to the state before the resume epoch",
    lines: [
      ...v2Epoch(0, { dice: "0.5" }),
      ...v2Epoch(1, { dice: "0.9" }),
      ...v2Epoch(2, { dice: "0.9" }),
      "Starting... ",
      ...v2Epoch(1, { dice: "0.1" }),
    ],
    expect: (es, p) => {
      assert.deepEqual(
        es.map((e) => e.epoch),
        [0, 1, 2, 1],
      );
      assert.equal(es[3]?.emaPseudoDice?.toFixed(4), "0.4600");
      assert.equal(p.stats.rewinds, 1);
      assert.equal(p.training, 0);
    },
  },
  {
    name: "a second training from epoch 0 in the same capture starts a new EMA and counts a new training",
    lines: [
      ...v2Epoch(0, { dice: "0.5" }),
      ...v2Epoch(1),
      "Configuration name: 2d",
      "This is the configuration used by this training:",
      ...v2Epoch(0, { dice: "0.3" }),
    ],
    expect: (es, p) => {
      assert.equal(es.at(-1)?.emaPseudoDice, 0.3);
      assert.equal(p.training, 1);
      assert.equal(p.configuration, "2d");
    },
  },
  {
    name: "an epoch number going back without a restart is a corrupt header and does not rewind history",
    lines: [...v2Epoch(10), ...v2Epoch(11), ...v2Epoch(1).slice(0, 2), ...v2Epoch(12)],
    expect: (es, p) => {
      assert.deepEqual(
        es.map((e) => e.epoch),
        [10, 11, 12],
      );
      assert.equal(p.stats.garbled, 1);
      assert.equal(p.stats.rewinds, 0);
    },
  },
  {
    name: "a corrupt header far ahead is rejected and the following epochs still count",
    lines: [...v2Epoch(61), ...v2Epoch(622).slice(0, 2), ...v2Epoch(63), ...v2Epoch(64)],
    expect: (es, p) => {
      assert.deepEqual(
        es.map((e) => e.epoch),
        [61, 63, 64],
      );
      assert.equal(p.stats.garbled, 1);
    },
  },
  {
    name: "two writers of one capture (timestamped log copy and plain console copy, flushed in blocks) rewind to each other and the later copy wins",
    lines: [
      ...v2Epoch(0, { dice: "0.5", time: "10" }),
      ...v2Epoch(1, { dice: "0.6", time: "11" }),
      // The plain writer's block starts with the end of an epoch the stamped writer had opened.
      ...v2Epoch(2).slice(0, 3),
      ...v2Epoch(0, { dice: "0.5", time: "12" }).map(unstamped),
      ...v2Epoch(1, { dice: "0.6", time: "13" }).map(unstamped),
      ...v2Epoch(2, { dice: "0.7", time: "14" }).map(unstamped),
    ],
    expect: (es, p) => {
      assert.deepEqual(
        es.map((e) => [e.epoch, e.epochTimeSeconds]),
        [
          [0, 10],
          [1, 11],
          [0, 12],
          [1, 13],
          [2, 14],
        ],
      );
      assert.equal(es.at(-1)?.emaPseudoDice?.toFixed(4), (0.9 * (0.9 * 0.5 + 0.1 * 0.6) + 0.1 * 0.7).toFixed(4));
      assert.equal(p.stats.garbled, 0, "no header counts as corrupt");
      assert.equal(p.training, 0, "the second copy of epoch 0 is no second training");
    },
  },
  {
    name: "a half-written last epoch is not emitted: the end line has not arrived yet",
    lines: v2Epoch(0).slice(0, 6),
    expect: (es) => assert.equal(es.length, 0),
  },
];

for (const c of cases) {
  test(c.name, () => {
    const parser = new NnunetLogParser();
    c.expect(parse(c.lines, parser), parser);
  });
}

test("a new log file drops the unfinished epoch of the previous one and may resume at an earlier epoch", () => {
  const parser = new NnunetLogParser();
  const first = parse([...v2Epoch(0), ...v2Epoch(1), ...v2Epoch(2).slice(0, 3)], parser);
  parser.startFile();
  const second = parse(v2Epoch(1, { dice: "0.1" }), parser);
  assert.deepEqual(
    [...first, ...second].map((e) => e.epoch),
    [0, 1, 1],
  );
  assert.equal(parser.stats.abandoned, 1);
  assert.equal(parser.lastEpoch, 1);
});

test("every emitted epoch of a clean log is a valid EpochMetrics payload once identity is added", () => {
  for (const e of parse([...v2Epoch(0), ...v2Epoch(1)])) {
    const message = {
      schemaVersion: 1,
      namespace: "ns",
      run: "r",
      runUid: "u",
      fold: "0",
      attempt: 0,
      observedAt: "2024-01-01T10:00:01Z",
      ...e,
      ...(e.trainLoss !== undefined && { trainLoss: encodeLoss(e.trainLoss) }),
      ...(e.valLoss !== undefined && { valLoss: encodeLoss(e.valLoss) }),
    };
    assert.equal(EpochMetrics.safeParse(message).success, true, JSON.stringify(message));
  }
});

// Fuzzing: a seeded generator corrupts real-shaped lines (truncation, byte flips, garbage
// insertions, dropped and duplicated lines). The parser must never throw, must emit epochs
// with epoch numbers near the log's, and never an EMA outside [0, 1] (a flipped digit
// inside a loss is a valid number and cannot be caught; a Dice above 1 can).
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function corrupt(line: string, r: () => number): string[] {
  const x = r();
  if (x < 0.05) return [];
  if (x < 0.1) return [line, line];
  if (x < 0.2) return [line.slice(0, Math.floor(r() * line.length))];
  if (x < 0.25) {
    const i = Math.floor(r() * line.length);
    return [line.slice(0, i) + String.fromCharCode(Math.floor(r() * 95) + 32) + line.slice(i + 1)];
  }
  if (x < 0.28) return [String.fromCharCode(...Array.from({ length: 40 }, () => Math.floor(r() * 0xff00) + 0x20))];
  return [line];
}

test("fuzzed logs never make the parser throw, and emitted epochs and EMAs stay plausible", () => {
  const clean = Array.from({ length: 60 }, (_, i) =>
    v2Epoch(i, { tl: `-0.${i + 10}`, dice: `0.${i + 10}, 0.5` }),
  ).flat();
  const v1 = [
    "2021-05-15 18:56:00.157092: lr: 0.01 ",
    ...Array.from({ length: 30 }, (_, i) => v1Epoch(i, `0.00${i + 10}`)).flat(),
  ];
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed);
    const lines = (seed % 2 === 0 ? clean : v1).flatMap((l) => corrupt(l, r));
    const parser = new NnunetLogParser();
    let epochs: ParsedEpoch[] = [];
    assert.doesNotThrow(() => {
      epochs = parse(lines, parser);
    }, `seed ${seed}`);
    for (const e of epochs) {
      assert.ok(Number.isInteger(e.epoch) && e.epoch >= 0 && e.epoch < 60 + 11, `seed ${seed}: epoch ${e.epoch}`);
      if (e.emaPseudoDice !== undefined)
        assert.ok(e.emaPseudoDice >= 0 && e.emaPseudoDice <= 1, `seed ${seed}: EMA ${e.emaPseudoDice}`);
    }
    assert.equal(parser.stats.lines, lines.length);
  }
});

test("every prefix of a real-shaped line is either understood or counted, never thrown", () => {
  for (const line of [...v2Epoch(7), ...v1Epoch(7, "0.009")]) {
    for (let cut = 0; cut <= line.length; cut++) {
      const parser = new NnunetLogParser();
      parse([...v2Epoch(6), line.slice(0, cut)], parser);
      assert.ok(parser.stats.epochs >= 1);
    }
  }
});
