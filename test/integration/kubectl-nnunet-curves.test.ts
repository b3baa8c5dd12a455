import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type EpochMetrics, TrainingRun } from "@nnunet-operator/api";
import { connectBus, ensureEpochStream, publishEpoch } from "@nnunet-operator/bus";
import { type NatsServerHandle, startNatsServer } from "@nnunet-operator/bus/testing";
import { runCli } from "@nnunet-operator/cli";
import { type Curve, parseCurveCsv, presetConfig, readCurveDir, replayCurve } from "@nnunet-operator/early-stop";
import { type KubeObject, Resources } from "@nnunet-operator/kube";
import { FakeKubePort } from "@nnunet-operator/kube/testing";

// kubectl nnunet curves export and explain against a real nats-server with the epoch
// stream: real curves published as the reporter publishes them (one message per epoch, a
// resumed attempt re-running epochs after its checkpoint), exported, and read back by the
// evaluator's own CSV reader: the same numbers, and the same evaluation, as the source.

const CURVES = fileURLToPath(new URL("../fixtures/nnunet-logs/curves/", import.meta.url));
const LIVER = "liver-at__Dataset003_Liver__3d_fullres__fold0.csv";
const OCT = "icekang__Dataset306_Sohee_Ajay_Calcium_OCT__2d__fold0.csv";
const source = (file: string): Curve => parseCurveCsv(file, readFileSync(`${CURVES}${file}`, "utf8"));

/** The reporter's message for a CSV row, per-class Dice included. */
function messagesOf(file: string, fold: string, runUid: string, attempt: (epoch: number) => number): EpochMetrics[] {
  const [, ...rows] = readFileSync(`${CURVES}${file}`, "utf8").trim().split("\n");
  return rows.map((row) => {
    const [epoch, train, val, mean, perClass, ema, time, lr] = row.split(",");
    const n = (s: string | undefined) => (s === undefined || s === "" ? undefined : Number(s));
    return {
      schemaVersion: 1,
      namespace: "team-a",
      run: "liver",
      runUid,
      fold,
      attempt: attempt(Number(epoch)),
      epoch: Number(epoch),
      ...(n(train) !== undefined && { trainLoss: n(train) }),
      ...(n(val) !== undefined && { valLoss: n(val) }),
      pseudoDice: perClass ? perClass.split(";").map(Number) : [],
      ...(n(mean) !== undefined && { pseudoDiceMean: n(mean) }),
      ...(n(ema) !== undefined && { emaPseudoDice: n(ema) }),
      ...(n(time) !== undefined && { epochTimeSeconds: n(time) }),
      ...(n(lr) !== undefined && { learningRate: n(lr) }),
      observedAt: "2026-01-01T00:00:00.000Z",
    } as EpochMetrics;
  });
}

function output() {
  let text = "";
  return { write: (t: string) => ((text += t), true), text: () => text };
}

describe("kubectl nnunet curves export and explain with a real nats-server", { timeout: 120_000 }, () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let dir: string;
  const port = new FakeKubePort();

  before(async () => {
    nats = await startNatsServer();
    nc = await connectBus({ servers: nats.url, name: "test" });
    await ensureEpochStream(await jetstreamManager(nc), {
      maxAgeMs: 3600_000,
      maxBytes: 256 * 1024 * 1024,
      duplicateWindowMs: 60_000,
    });
    dir = await mkdtemp(join(tmpdir(), "curves-export-"));
    const run = TrainingRun.parse({
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      metadata: { name: "liver", namespace: "team-a" },
      spec: { dataset: "Dataset003_Liver", configuration: "3d_fullres", storage: { claimName: "data" }, folds: [0, 1] },
    });
    const { status: _s, metadata, ...rest } = run;
    await port.create(Resources.trainingRuns, {
      ...rest,
      metadata: { name: "liver", namespace: "team-a" },
    } as KubeObject);
    await port.patchStatus(
      Resources.trainingRuns,
      { namespace: "team-a", name: "liver" },
      {
        status: {
          folds: [
            {
              fold: "1",
              phase: "Completed",
              attempt: 1,
              maxEpochs: 1000,
              stopDecision: {
                schemaVersion: 1,
                epoch: 494,
                policy: "Forecast",
                mode: "Audit",
                reason: "Converged",
                bestEpoch: 395,
                bestEma: 0.761694,
                decidedAt: "2026-01-01T00:00:00.000Z",
                forecast: {
                  confidence: 0.975,
                  maxGain: 0.002,
                  maxEpochs: 1000,
                  gain: -0.013976,
                  gainUpper: -0.002454,
                  epochsLeft: 505,
                },
              },
            },
          ],
        },
      },
      { type: "merge" },
    );
    void metadata;
    // The fake API gives the run its uid; the reporters publish under it.
    const uid = (await port.get(Resources.trainingRuns, { namespace: "team-a", name: "liver" })).metadata.uid as string;
    const js = jetstream(nc);
    for (const m of messagesOf(LIVER, "0", uid, () => 0)) await publishEpoch(js, m);
    // Fold 1 is resumed: attempt 0 got to epoch 120, attempt 1 resumed from its checkpoint at epoch 100.
    for (const m of messagesOf(OCT, "1", uid, () => 0).filter((x) => x.epoch <= 120)) await publishEpoch(js, m);
    for (const m of messagesOf(OCT, "1", uid, () => 1).filter((x) => x.epoch >= 100)) await publishEpoch(js, m);
  });

  after(async () => {
    await nc?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cli = async (argv: string[]) => {
    const stdout = output();
    const stderr = output();
    const code = await runCli(argv, {
      env: {},
      stdout,
      stderr,
      signal: new AbortController().signal,
      connect: () => ({ port, logs: { stream: async () => undefined } as never, namespace: "team-a" }),
    });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  };

  it("exports one CSV per fold that the evaluator reads back as the source curve, resumed attempt included", async () => {
    const r = await cli(["curves", "export", "liver", "--dir", dir, "--nats", nats.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote 2 curve\(s\), 2000 epochs/);
    assert.deepEqual((await readdir(dir)).sort(), ["team-a__liver__fold0.csv", "team-a__liver__fold1.csv"]);
    const exported = new Map(readCurveDir(dir).map((c) => [c.name, c]));
    for (const [file, name] of [
      [LIVER, "team-a__liver__fold0.csv"],
      [OCT, "team-a__liver__fold1.csv"],
    ] as const) {
      const back = exported.get(name)!;
      const src = source(file);
      assert.deepEqual(back.points, src.points, `${name}: the points differ from ${file}`);
      assert.equal(back.maxEpochs, src.maxEpochs);
      assert.deepEqual(
        { ...replayCurve(back, presetConfig("Forecast")), name: "" },
        { ...replayCurve(src, presetConfig("Forecast")), name: "" },
      );
    }
    // Per-class Dice travels too, beyond what the evaluator reads.
    const row = (await readFile(join(dir, "team-a__liver__fold0.csv"), "utf8")).split("\n")[1];
    assert.equal(row, "0,0.094,-0.0624,0.396,0.792;0,0.396,81.43,0.01");
  });

  it("explains the audited fold from the stream and the run's status, in the terminal and as SVG", async () => {
    const r = await cli(["explain", "liver", "--fold", "1", "--nats", nats.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^TrainingRun liver fold 1: would have stopped at epoch 494 of 1000 by Forecast \(audit\), 1000 of 1000 epochs trained/,
    );
    assert.match(r.stdout, /Fold 1 would have stopped at epoch 494 because even the 97\.5% bound/);
    const svg = join(dir, "fold1.svg");
    const s = await cli(["explain", "liver", "--fold", "1", "--nats", nats.url, "--output", svg]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(await readFile(svg, "utf8"), /would-be stop @494/);
  });

  it("names what to do when NATS cannot be reached, and a Secret without the credentials key", async () => {
    const down = await cli(["curves", "export", "--dir", dir, "--nats", "nats://127.0.0.1:1"]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach NATS at nats:\/\/127\.0\.0\.1:1 .*port-forward/);
    await port.create({ group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true }, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "nats", namespace: "team-a" },
      data: { other: "eA==" },
    } as KubeObject);
    const noKey = await cli(["curves", "export", "--dir", dir, "--nats", nats.url, "--creds-secret", "nats"]);
    assert.equal(noKey.code, 1);
    assert.match(
      noKey.stderr,
      /Secret team-a\/nats has no key nats\.creds: add :KEY to --creds-secret \(keys: other\)/,
    );
  });
});
