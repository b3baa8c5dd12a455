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
const CURVE = fileURLToPath(
  new URL(
    "../../../../../test/fixtures/nnunet-logs/curves/liver-at__Dataset003_Liver__3d_fullres__fold0.csv",
    import.meta.url,
  ),
);

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
      name: "a dataset without a recorded curve fails instead of hanging",
      args: ["Dataset778_NoCurve", "3d_fullres", "0"],
      prepare: (w) => cpSync(join(w.pre, "Dataset003_Liver"), join(w.pre, "Dataset778_NoCurve"), { recursive: true }),
      stderr: /no learning curve for Dataset778_NoCurve[\s\S]*FileNotFoundError/,
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
      const r = await run(w, f.args, f.env);
      assert.equal(r.code, 1);
      assert.match(r.stderr, f.stderr);
    });
  }

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
