import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { NnunetLogParser, replayLogFiles } from "./test-support.js";
import { parseCurve } from "./curve.js";

// The simulated nnU-Net against the reporter's parser and the recorded curves.

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const TSX = fileURLToPath(import.meta.resolve("tsx"));
const FIXTURES = fileURLToPath(new URL("../../../fixtures/preprocessed", import.meta.url));
const CURVES = fileURLToPath(new URL("../../../../../test/fixtures/nnunet-logs/curves/", import.meta.url));
const CURVE = join(CURVES, "liver-at__Dataset003_Liver__3d_fullres__fold0.csv");
const CTA = "Dataset705_TopCoWDetCTAextendedMaskCTAMRA";
const MRA = "Dataset801_TopCoWSegMRA";

const mraCurve = (fold: number) => `topcow-hasna__${MRA}__3d_fullres__fold${fold}.csv`;

const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

function world() {
  const root = mkdtempSync(join(tmpdir(), "fake-nnunet-"));
  roots.push(root);
  cpSync(FIXTURES, join(root, "pre"), { recursive: true });
  return { root, pre: join(root, "pre"), results: join(root, "results") };
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(
  w: ReturnType<typeof world>,
  args: string[],
  env: Record<string, string> = {},
  killWhen?: () => boolean,
): Promise<Run> {
  const child = spawn(process.execPath, ["--import", TSX, MAIN, ...args], {
    env: {
      PATH: process.env["PATH"] ?? "",
      nnUNet_preprocessed: w.pre,
      nnUNet_results: w.results,
      NNUNET_SIM_EPOCHS_PER_SECOND: "20000",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const timer = killWhen ? setInterval(() => killWhen() && child.kill("SIGTERM"), 20) : undefined;
  return new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      if (timer) clearInterval(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

const foldDir = (w: ReturnType<typeof world>, plans = "nnUNetPlans") =>
  join(w.results, "Dataset003_Liver", `nnUNetTrainer__${plans}__3d_fullres`, "fold_0");
const logs = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /^training_log_\d+_\d+_\d+_\d\d_\d\d_\d\d\.txt$/.test(f))
    .sort()
    .map((f) => join(dir, f));

describe("fake-nnunet", () => {
  it("writes a log the reporter parses epoch for epoch as the recorded curve, with nnU-Net's checkpoints and summary", async () => {
    const w = world();
    const r = await run(w, [
      "Dataset003_Liver",
      "3d_fullres",
      "0",
      "-tr",
      "nnUNetTrainer",
      "-p",
      "nnUNetPlans",
      "-num_gpus",
      "1",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const dir = foldDir(w);
    const [file] = logs(dir);
    const parser = new NnunetLogParser();
    const epochs = readFileSync(file!, "utf8")
      .split("\n")
      .map((l) => parser.push(l))
      .filter((e) => e !== undefined);
    const curve = parseCurve(readFileSync(CURVE, "utf8"));
    assert.equal(epochs.length, curve.length);
    assert.equal(parser.stats.garbled, 0);
    for (const [i, e] of epochs.entries()) {
      const row = curve[i]!;
      assert.equal(e.epoch, row.epoch);
      assert.equal(e.trainLoss, Number(row.trainLoss));
      assert.equal(e.valLoss, Number(row.valLoss));
      assert.deepEqual(e.pseudoDice, row.dice.map(Number));
      assert.ok(Math.abs(e.emaPseudoDice! - row.ema) < 1e-5, `EMA of epoch ${i}`);
      assert.equal(e.epochTimeSeconds, row.epochTime);
      assert.equal(e.learningRate, Number(row.lr));
    }
    // Every line after the header is `<python datetime>: <message> ` as print_to_log_file writes it.
    const body = readFileSync(file!, "utf8").split("\n").slice(14, -1);
    for (const line of body) assert.match(line, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}: .* $/);
    assert.ok(existsSync(join(dir, "checkpoint_final.pth")) && existsSync(join(dir, "checkpoint_best.pth")));
    assert.ok(!existsSync(join(dir, "checkpoint_latest.pth")), "nnU-Net removes checkpoint_latest at the end");
    const summary = JSON.parse(readFileSync(join(dir, "validation", "summary.json"), "utf8")) as {
      foreground_mean: { Dice: number };
      mean: Record<string, { Dice: number }>;
      metric_per_case: unknown[];
    };
    assert.deepEqual(Object.keys(summary.mean), ["1", "2"]);
    assert.ok(summary.foreground_mean.Dice > 0.8 && summary.foreground_mean.Dice < 1);
    assert.equal(summary.metric_per_case.length, 26);
  });

  it("dies on SIGTERM without checkpoint_final, and --c resumes at checkpoint_latest's epoch in a new log", async () => {
    const w = world();
    const dir = foldDir(w);
    const latest = join(dir, "checkpoint_latest.pth");
    const first = await run(
      w,
      ["Dataset003_Liver", "3d_fullres", "0"],
      { NNUNET_SIM_EPOCHS_PER_SECOND: "400" },
      () =>
        existsSync(latest) &&
        (JSON.parse(readFileSync(latest, "utf8")) as { current_epoch: number }).current_epoch >= 100,
    );
    assert.equal(first.signal, "SIGTERM");
    assert.ok(!existsSync(join(dir, "checkpoint_final.pth")));
    const resumeAt = (JSON.parse(readFileSync(latest, "utf8")) as { current_epoch: number }).current_epoch;
    const second = await run(w, ["Dataset003_Liver", "3d_fullres", "0", "--c"]);
    assert.equal(second.code, 0, second.stderr);
    const files = logs(dir);
    assert.equal(files.length, 2);
    const resumed = readFileSync(files[1]!, "utf8");
    assert.match(resumed, new RegExp(`: Epoch ${resumeAt} \\n`));
    assert.doesNotMatch(resumed, new RegExp(`: Epoch ${resumeAt - 1} \\n`));
    const [training] = replayLogFiles(files);
    assert.deepEqual(
      training!.epochs.map((e) => e.epoch),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    assert.ok(existsSync(join(dir, "checkpoint_final.pth")));
  });

  it("hangs once at NNUNET_SIM_HANG_AT_EPOCH, alive and silent until killed, and the resumed run trains on past it", async () => {
    const w = world();
    const dir = foldDir(w);
    const hang = { NNUNET_SIM_EPOCHS_PER_SECOND: "2000", NNUNET_SIM_HANG_AT_EPOCH: "60" };
    let quietSince: number | undefined;
    let size = -1;
    // Killed once the log has not grown for a second after the hang's epoch header.
    const first = await run(w, ["Dataset003_Liver", "3d_fullres", "0"], hang, () => {
      const [file] = existsSync(dir) ? logs(dir) : [];
      const text = file ? readFileSync(file, "utf8") : "";
      if (!text.includes(": Epoch 60 \n")) return false;
      if (text.length !== size) [size, quietSince] = [text.length, Date.now()];
      return Date.now() - (quietSince ?? Date.now()) > 1000;
    });
    assert.equal(first.signal, "SIGTERM", "it was still alive when killed");
    const [hung] = logs(dir);
    assert.doesNotMatch(
      readFileSync(hung!, "utf8"),
      /: train_loss .*\n[\s\S]*: Epoch 60 \n[\s\S]*: train_loss /,
      "nothing after epoch 60's header",
    );
    assert.deepEqual(
      replayLogFiles([hung!])[0]!.epochs.map((e) => e.epoch),
      Array.from({ length: 60 }, (_, i) => i),
    );
    assert.equal(
      (JSON.parse(readFileSync(join(dir, "checkpoint_latest.pth"), "utf8")) as { current_epoch: number }).current_epoch,
      50,
    );

    const second = await run(w, ["Dataset003_Liver", "3d_fullres", "0", "--c"], hang);
    assert.equal(second.code, 0, second.stderr);
    const [training] = replayLogFiles(logs(dir));
    assert.deepEqual(
      training!.epochs.map((e) => e.epoch),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    assert.ok(existsSync(join(dir, "checkpoint_final.pth")));
  });

  it("trains derived plans into the folder their plans_name gives, with epoch times scaled by the throughput model", async () => {
    const w = world();
    const plans = JSON.parse(readFileSync(join(w.pre, "Dataset003_Liver", "nnUNetPlans.json"), "utf8")) as {
      plans_name: string;
      configurations: Record<string, { batch_size: number }>;
    };
    plans.plans_name = "nnUNetPlans_bs8";
    plans.configurations["3d_fullres"]!.batch_size = 8;
    writeFileSync(join(w.pre, "Dataset003_Liver", "nnUNetPlans_bs8.json"), JSON.stringify(plans));
    const r = await run(w, ["Dataset003_Liver", "3d_fullres", "0", "-p", "nnUNetPlans_bs8"], {
      NVIDIA_GPU_PRODUCT: "NVIDIA-L40S",
    });
    assert.equal(r.code, 0, r.stderr);
    const [file] = logs(foldDir(w, "nnUNetPlans_bs8"));
    const first = /Epoch time: ([\d.]+) s/.exec(readFileSync(file!, "utf8"))!;
    assert.ok(Number(first[1]) > 81.43 * 2, `an epoch of 250 batches of 8 takes longer than of 2 (${first[1]} s)`);
  });

  const failures: {
    name: string;
    args: string[];
    env?: Record<string, string>;
    prepare?: (w: ReturnType<typeof world>) => void;
    stderr: RegExp;
  }[] = [
    {
      name: "a batch that does not fit the node's GPU dies with CUDA's out-of-memory error",
      args: ["Dataset003_Liver", "3d_fullres", "0", "-p", "nnUNetPlans_bs64"],
      env: { NVIDIA_GPU_PRODUCT: "NVIDIA-L40S" },
      prepare: (w) => derive(w, 64),
      stderr: /torch\.OutOfMemoryError: CUDA out of memory\. Tried to allocate/,
    },
    {
      name: "a missing plans file fails as nnU-Net does",
      args: ["Dataset003_Liver", "3d_fullres", "0", "-p", "NoSuchPlans"],
      stderr: /FileNotFoundError: \[Errno 2\] No such file or directory: '.*NoSuchPlans\.json'/,
    },
    {
      name: "an unknown dataset id fails as nnU-Net does",
      args: ["777", "3d_fullres", "0"],
      stderr: /RuntimeError: Could not find a dataset with the ID 777/,
    },
    {
      name: "a dataset without a recorded curve fails with one line saying so, never replaying another's",
      args: ["Dataset778_NoCurve", "3d_fullres", "0"],
      prepare: (w) => cpSync(join(w.pre, "Dataset003_Liver"), join(w.pre, "Dataset778_NoCurve"), { recursive: true }),
      stderr:
        /^devcluster fake-nnunet: no recorded learning curve for Dataset778_NoCurve 3d_fullres fold 0 in .*; map one with NNUNET_SIM_CURVE_MAP\n$/,
    },
    {
      name: "a fold its dataset has no curve for fails naming the folds that are recorded, never replaying another fold's",
      args: [MRA, "3d_fullres", "4"],
      stderr:
        /no recorded learning curve for Dataset801_TopCoWSegMRA 3d_fullres fold 4 in .* \(recorded: 3d_fullres fold0, 3d_fullres fold1, 3d_fullres fold2, 3d_fullres fold3\)/,
    },
    {
      name: "a configuration its dataset has no curve for fails too",
      args: [CTA, "3d_fullres", "0"],
      stderr:
        /no recorded learning curve for Dataset705_TopCoWDetCTAextendedMaskCTAMRA 3d_fullres fold 0 .*recorded: 3d_fullres_spacing_ps fold0/,
    },
    {
      name: "a curve map with curves per fold fails a fold it does not name",
      args: [MRA, "3d_fullres", "1"],
      prepare: (w) =>
        writeFileSync(join(w.root, "curves.json"), JSON.stringify({ [MRA]: { "0": join(CURVES, mraCurve(0)) } })),
      env: { NNUNET_SIM_CURVE_MAP: "{root}/curves.json" },
      stderr: /curves\.json maps Dataset801_TopCoWSegMRA to curves for folds 0, not for fold 1/,
    },
    {
      name: "validation before training has finished fails as nnU-Net does",
      args: ["Dataset003_Liver", "3d_fullres", "0", "--val"],
      stderr: /RuntimeError: Cannot run validation because the training is not finished yet!/,
    },
    {
      name: "an unknown configuration is refused",
      args: ["Dataset003_Liver", "3d_huge", "0"],
      stderr: /RuntimeError: Requested configuration 3d_huge not found in plans/,
    },
  ];
  function derive(w: ReturnType<typeof world>, bs: number) {
    const plans = JSON.parse(readFileSync(join(w.pre, "Dataset003_Liver", "nnUNetPlans.json"), "utf8")) as {
      plans_name: string;
      configurations: Record<string, { batch_size: number }>;
    };
    plans.plans_name = `nnUNetPlans_bs${bs}`;
    plans.configurations["3d_fullres"]!.batch_size = bs;
    writeFileSync(join(w.pre, "Dataset003_Liver", `nnUNetPlans_bs${bs}.json`), JSON.stringify(plans));
  }
  for (const f of failures) {
    it(f.name, async () => {
      const w = world();
      f.prepare?.(w);
      const env = Object.fromEntries(Object.entries(f.env ?? {}).map(([k, v]) => [k, v.replace("{root}", w.root)]));
      const r = await run(w, f.args, env);
      assert.equal(r.code, 1);
      assert.match(r.stderr, f.stderr);
    });
  }

  const schedules: {
    name: string;
    dataset: string;
    configuration: string;
    trainer: string;
    epochs: number;
    stderr?: RegExp;
  }[] = [
    {
      name: "nnUNetTrainer_5epochs replays five epochs of the fold's curve and stops there",
      dataset: CTA,
      configuration: "3d_fullres_spacing_ps",
      trainer: "nnUNetTrainer_5epochs",
      epochs: 5,
    },
    {
      name: "nnUNetTrainer_50epochs ends at 50 with checkpoint_final, not writing checkpoint_latest at its last epoch",
      dataset: MRA,
      configuration: "3d_fullres",
      trainer: "nnUNetTrainer_50epochs",
      epochs: 50,
    },
    {
      name: "a recording shorter than nnUNetTrainer's 1000 epochs ends where the recording does, and says so",
      dataset: MRA,
      configuration: "3d_fullres",
      trainer: "nnUNetTrainer",
      epochs: 500,
      stderr: /records 500 epochs, fewer than the 1000 of nnUNetTrainer; training ends where the recording does/,
    },
  ];
  for (const c of schedules) {
    it(c.name, async () => {
      const w = world();
      const r = await run(w, [c.dataset, c.configuration, "0", "-tr", c.trainer]);
      assert.equal(r.code, 0, r.stderr);
      if (c.stderr) assert.match(r.stderr, c.stderr);
      else assert.equal(r.stderr, "");
      const dir = join(w.results, c.dataset, `${c.trainer}__nnUNetPlans__${c.configuration}`, "fold_0");
      const [trained] = replayLogFiles(logs(dir));
      assert.equal(trained?.epochs.length, c.epochs);
      assert.equal(trained?.epochs.at(-1)?.epoch, c.epochs - 1, "no epoch logged beyond the schedule");
      const final = JSON.parse(readFileSync(join(dir, "checkpoint_final.pth"), "utf8")) as { current_epoch: number };
      assert.equal(final.current_epoch, c.epochs);
      assert.ok(!existsSync(join(dir, "checkpoint_latest.pth")));
    });
  }

  it("each fold of a dataset replays its own recorded fold: five folds of TopCoW CTA, five different curves", async () => {
    const seen = new Set<string>();
    for (const fold of ["0", "1", "2", "3", "4"]) {
      const w = world();
      const r = await run(w, [CTA, "3d_fullres_spacing_ps", fold, "-tr", "nnUNetTrainer_10epochs"]);
      assert.equal(r.code, 0, r.stderr);
      const dir = join(w.results, CTA, "nnUNetTrainer_10epochs__nnUNetPlans__3d_fullres_spacing_ps", `fold_${fold}`);
      const [trained] = replayLogFiles(logs(dir));
      const recorded = parseCurve(
        readFileSync(join(CURVES, `topcow-hasna__${CTA}__3d_fullres_spacing_ps__fold${fold}.csv`), "utf8"),
      ).slice(0, 10);
      assert.deepEqual(
        trained?.epochs.map((e) => e.valLoss),
        recorded.map((row) => Number(row.valLoss)),
        `fold ${fold} replays its own curve`,
      );
      seen.add(JSON.stringify(recorded.map((row) => row.valLoss)));
    }
    assert.equal(seen.size, 5);
  });

  it("--val_best writes the summary from the best checkpoint's epoch", async () => {
    const w = world();
    assert.equal((await run(w, ["Dataset003_Liver", "3d_fullres", "0"])).code, 0);
    const summaryPath = join(foldDir(w), "validation", "summary.json");
    const final = JSON.parse(readFileSync(summaryPath, "utf8")) as { foreground_mean: { Dice: number } };
    const r = await run(w, ["Dataset003_Liver", "3d_fullres", "0", "--val", "--val_best"]);
    assert.equal(r.code, 0, r.stderr);
    const best = JSON.parse(readFileSync(summaryPath, "utf8")) as { foreground_mean: { Dice: number } };
    assert.ok(best.foreground_mean.Dice > 0.5);
    assert.notEqual(best.foreground_mean.Dice, final.foreground_mean.Dice);
  });
});
