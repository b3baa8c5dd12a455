import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EpochMetrics, encodeLoss } from "@nnunet-operator/api";
import { NnunetLogParser, type ParsedEpoch } from "@nnunet-operator/reporter";
import {
  FoldState,
  inferMaxEpochs,
  makePolicyConfig,
  parseCurveCsv,
  PRESETS,
  replayCurve,
  presetConfig,
} from "@nnunet-operator/early-stop";

// From raw log to stop decision without NATS: each real log is parsed line by line as the
// reporter does, every epoch becomes a validated EpochMetrics message (losses encoded for
// JSON, as on the wire), and the controller's FoldState takes the decision. It must stop at
// the epoch the evaluator predicts from the curve CSV, for the default policy and a baseline.

const ROOT = fileURLToPath(new URL("../fixtures/nnunet-logs/", import.meta.url));

function runs(): { csv: string; files: string[] }[] {
  const rows = readFileSync(join(ROOT, "SOURCES.md"), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("| ") && l.includes(".csv"));
  const slugs = [
    "brats-ztang",
    "chasedb1-xray",
    "crf-effunet",
    "icekang",
    "kits23-anh",
    "liver-at",
    "miz-ext",
    "miz-lucy",
    "tbone",
  ];
  return rows
    .map((row) => row.split("|").map((c) => c.trim()))
    .filter((cells) => (cells[6] ?? "") !== "2d" || !(cells[12] ?? "").includes("27463604")) // the 2d half of a two-training capture
    .map((cells) => ({
      csv: cells[1] ?? "",
      // Rows added with issue 13 name their folder: "raw/<slug>: path<br>path".
      files: (/^raw\/[^:]+: (.*)$/.exec(cells[12] ?? "")?.[1] ?? cells[12] ?? "").split("<br>").map((p) => {
        const named = /^raw\/([^:]+): /.exec(cells[12] ?? "")?.[1];
        const slug =
          named ??
          slugs.find((s) => {
            try {
              readFileSync(join(ROOT, "raw", s, p));
              return true;
            } catch {
              return false;
            }
          });
        return join(ROOT, "raw", slug ?? "missing", p);
      }),
    }));
}

function messagesFrom(files: string[]): EpochMetrics[] {
  const parser = new NnunetLogParser();
  const epochs: ParsedEpoch[] = [];
  for (const f of files) {
    parser.startFile();
    for (const line of readFileSync(f, "utf8").split("\n")) {
      const e = parser.push(line);
      if (e === undefined || parser.training > 0) continue;
      while ((epochs.at(-1)?.epoch ?? -1) >= e.epoch) epochs.pop();
      epochs.push(e);
    }
  }
  return epochs.map((e) =>
    EpochMetrics.parse({
      schemaVersion: 1,
      namespace: "ns",
      run: "run",
      runUid: "uid",
      fold: "0",
      attempt: 0,
      observedAt: "2026-01-01T00:00:00Z",
      ...e,
      // As the reporter publishes it: a NaN class Dice (class absent) drops the per-class list.
      pseudoDice: e.pseudoDice.every(Number.isFinite) ? e.pseudoDice : [],
      ...(e.trainLoss !== undefined && { trainLoss: encodeLoss(e.trainLoss) }),
      ...(e.valLoss !== undefined && { valLoss: encodeLoss(e.valLoss) }),
    }),
  );
}

for (const policy of ["Forecast", "Patience100"] as const) {
  test(`${policy}: every real log, parsed and ingested as EpochMetrics, stops where the evaluator says`, () => {
    let stopped = 0;
    for (const run of runs()) {
      const messages = messagesFrom(run.files);
      const maxEpochs = inferMaxEpochs(messages.map((m) => m.learningRate)) ?? messages.length;
      const state = new FoldState(makePolicyConfig(PRESETS[policy], maxEpochs));
      let stop: number | undefined;
      for (const m of messages) {
        const o = state.ingestMetrics(m);
        if (o.accepted && o.decision !== undefined) {
          stop = o.decision.epoch;
          break;
        }
      }
      const curve = parseCurveCsv(run.csv, readFileSync(join(ROOT, "curves", run.csv), "utf8"));
      const expected = replayCurve(curve, presetConfig(policy)).stopEpoch;
      assert.equal(stop, expected, `${run.csv}: stopped at ${stop}, the evaluator says ${expected}`);
      if (stop !== undefined) stopped += 1;
    }
    assert.ok(stopped > 0, "some fold stops");
  });
}
