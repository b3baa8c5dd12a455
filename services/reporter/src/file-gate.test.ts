import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PublishGate } from "./file-gate.js";

// The gate by scenario: a script of tail events and parsed epochs, and what gets published.

type Step =
  | { file: string; newest: boolean; preexisting: boolean }
  | { synced: string }
  | { line: string; epoch?: number };

function run(steps: Step[]): { published: number[]; discarded: number } {
  const gate = new PublishGate<number>();
  const published: number[] = [];
  let discarded = 0;
  for (const s of steps) {
    if ("file" in s) discarded += gate.file(s.file, s);
    else if ("synced" in s) gate.synced(s.synced);
    else {
      published.push(...gate.line(s.line));
      if (s.epoch !== undefined) published.push(...gate.epoch(s.epoch));
    }
  }
  return { published, discarded };
}

const cases: { name: string; steps: Step[]; published: number[]; discarded?: number }[] = [
  {
    name: "a log that appears after the reporter started is this pod's trainer: every epoch goes out at once",
    steps: [
      { file: "b", newest: true, preexisting: false },
      { line: "b", epoch: 0 },
      { synced: "b" },
      { line: "b", epoch: 1 },
    ],
    published: [0, 1],
  },
  {
    name: "older files only rebuild the parser's state, they are never published",
    steps: [
      { file: "a", newest: false, preexisting: true },
      { line: "a", epoch: 0 },
      { line: "a", epoch: 1 },
      { file: "b", newest: true, preexisting: false },
      { line: "b", epoch: 1 },
    ],
    published: [1],
  },
  {
    name: "the reporter restarted mid-run: the newest file's epochs are held until it grows, then all go out in order",
    steps: [
      { file: "b", newest: true, preexisting: true },
      { line: "b", epoch: 0 },
      { line: "b", epoch: 1 },
      { synced: "b" },
      { line: "b" },
      { line: "b", epoch: 2 },
    ],
    published: [0, 1, 2],
  },
  {
    name: "a dead trainer's log (the sidecar starts before nnU-Net): held, then dropped when the new trainer's file appears",
    steps: [
      { file: "a", newest: true, preexisting: true },
      { line: "a", epoch: 0 },
      { line: "a", epoch: 1 },
      { synced: "a" },
      { file: "b", newest: true, preexisting: false },
      { line: "b", epoch: 1 },
    ],
    published: [1],
    discarded: 2,
  },
  {
    name: "a finished run's log in the same folder never reaches the stream while nothing writes to it",
    steps: [
      { file: "a", newest: true, preexisting: true },
      { line: "a", epoch: 998 },
      { line: "a", epoch: 999 },
      { synced: "a" },
    ],
    published: [],
  },
  {
    name: "lines of the first read do not count as growth, even when they come in several reads before the sync",
    steps: [{ file: "b", newest: true, preexisting: true }, { line: "b", epoch: 0 }, { line: "b" }, { synced: "b" }],
    published: [],
  },
];

describe("PublishGate", () => {
  for (const c of cases)
    it(c.name, () => {
      const r = run(c.steps);
      assert.deepEqual(r.published, c.published);
      assert.equal(r.discarded, c.discarded ?? 0);
    });
});
