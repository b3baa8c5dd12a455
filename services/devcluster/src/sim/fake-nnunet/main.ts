import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stockTrainerEpochs } from "@nnunet-operator/api/trainer";
import { findCurve, parseCurve, type CurveRow } from "./curve.js";
import { CITATION, logFileName, pyRepr, TrainingLog } from "./log-format.js";
import { checkpointDice, writeSummary } from "./validation.js";

// fake-nnunet: `nnUNetv2_train DATASET CONFIG FOLD [-tr T] [-p P] [--c] [--val] [--val_best]
// [-num_gpus N]` for the devcluster. It reads the plans as nnU-Net does, writes nnU-Net v2's
// exact log into $nnUNet_results/<Dataset>/<T>__<plans_name>__<CONFIG>/fold_<F>/ by
// replaying a real learning curve (fold N replays its dataset's fold-N curve, see curve.ts)
// for as many epochs as the trainer trains (nnUNetTrainer 1000, nnUNetTrainer_<N>epochs N,
// another trainer the whole recording), and writes the checkpoints nnU-Net writes (as small
// JSON files). Time: NNUNET_SIM_EPOCHS_PER_SECOND (a fixed rate) or NNUNET_SIM_TIME_SCALE
// (recorded seconds per wall second, default 1200). Memory: the calibrator's simulated GPU
// model decides whether the plans' batch fits the node's GPU (NVIDIA_GPU_PRODUCT,
// NVIDIA_GPU_MEMORY_MIB); if not, it dies with CUDA's out-of-memory error like nnU-Net.
// SIGTERM ends it at once (default action), without checkpoint_final. NNUNET_SIM_HANG_AT_EPOCH
// makes it hang once, as a deadlocked data loader does (see the loop).

const env = process.env;
// Run from a bundle (the kubelet's fast path) import.meta.url is the bundle's, so the
// repository comes from the environment the kubelet sets.
const REPO = env["DEVCLUSTER_REPO"] ?? join(fileURLToPath(new URL(".", import.meta.url)), "../../../../..");
const HERE = join(REPO, "services/devcluster/src/sim/fake-nnunet");

function die(code: number, lines: string[]): never {
  process.stderr.write(`${lines.join("\n")}\n`);
  process.exit(code);
}

function traceback(error: string): never {
  die(1, [
    "Traceback (most recent call last):",
    '  File "/usr/local/bin/nnUNetv2_train", line 8, in <module>',
    "    sys.exit(run_training_entry())",
    '  File "/usr/local/lib/python3.10/site-packages/nnunetv2/run/run_training.py", line 275, in run_training_entry',
    "    run_training(args.dataset_name_or_id, args.configuration, args.fold, args.tr, args.p, args.pretrained_weights,",
    error,
  ]);
}

interface Args {
  dataset: string;
  config: string;
  fold: string;
  trainer: string;
  plans: string;
  resume: boolean;
  val: boolean;
  valBest: boolean;
}

function parseArgs(argv: string[]): Args {
  const pos: string[] = [];
  const a: Args = {
    dataset: "",
    config: "",
    fold: "",
    trainer: "nnUNetTrainer",
    plans: "nnUNetPlans",
    resume: false,
    val: false,
    valBest: false,
  };
  const usage =
    "usage: nnUNetv2_train [-h] [-tr TR] [-p P] [-pretrained_weights PRETRAINED_WEIGHTS] [-num_gpus NUM_GPUS] [--npz] [--c] [--val] [--val_best] [--disable_checkpointing] [-device DEVICE] dataset_name_or_id configuration fold";
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    const value = () => argv[++i] ?? die(2, [usage, `nnUNetv2_train: error: argument ${x}: expected one argument`]);
    if (x === "-tr") a.trainer = value();
    else if (x === "-p") a.plans = value();
    else if (x === "-num_gpus" || x === "-device" || x === "-pretrained_weights") value();
    else if (x === "--c") a.resume = true;
    else if (x === "--val") a.val = true;
    else if (x === "--val_best") a.valBest = true;
    else if (x === "--npz" || x === "--disable_checkpointing" || x === "--use_compressed") continue;
    else if (x.startsWith("-")) die(2, [usage, `nnUNetv2_train: error: unrecognized arguments: ${x}`]);
    else pos.push(x);
  }
  if (pos.length < 3)
    die(2, [
      usage,
      "nnUNetv2_train: error: the following arguments are required: dataset_name_or_id, configuration, fold",
    ]);
  [a.dataset, a.config, a.fold] = pos as [string, string, string];
  return a;
}

function findDataset(pre: string, idOrName: string): string {
  if (existsSync(join(pre, idOrName))) return idOrName;
  const id = /^\d+$/.test(idOrName) ? Number(idOrName) : undefined;
  const hit =
    id === undefined
      ? undefined
      : (existsSync(pre) ? readdirSync(pre) : []).find((d) => d.startsWith(`Dataset${String(id).padStart(3, "0")}_`));
  if (hit) return hit;
  traceback(
    `RuntimeError: Could not find a dataset with the ID ${id ?? idOrName}. Make sure the requested dataset ID exists and that nnU-Net knows where raw and preprocessed data are located (see Documentation - Installation). Here are your currently defined folders:\nnnUNet_preprocessed=${pre}\nnnUNet_results=${env["nnUNet_results"]}\nnnUNet_raw=${env["nnUNet_raw"]}\nIf something is not right, adapt your environment variables.`,
  );
}

type Obj = Record<string, unknown>;
function configuration(plans: Obj, name: string): Obj {
  const configs = (plans["configurations"] ?? {}) as Record<string, Obj>;
  const c = configs[name];
  if (!c)
    traceback(
      `RuntimeError: Requested configuration ${name} not found in plans. Available configurations: ${pyRepr(Object.keys(configs))}`,
    );
  const parent = c["inherits_from"];
  return typeof parent === "string" ? { ...configuration(plans, parent), ...c } : c;
}

interface GpuFit {
  fits: boolean;
  peakMib: number;
  memoryMib: number;
  stepSeconds: number;
  refStepSeconds: number;
}

/** The calibrator's model, in Python; undefined when it cannot answer (then the batch is assumed to fit). */
function gpuModel(
  pre: string,
  dataset: string,
  plans: string,
  config: string,
  batch: number,
  refBatch: number,
): GpuFit | undefined {
  const product = env["NVIDIA_GPU_PRODUCT"];
  if (!product || env["NNUNET_SIM_GPU_MODEL"] === "off") return undefined;
  try {
    const out = execFileSync(
      env["NNUNET_SIM_PYTHON"] ?? "/usr/bin/python3",
      [
        join(HERE, "gpu_model.py"),
        pre,
        dataset,
        plans,
        config,
        String(batch),
        String(refBatch),
        product,
        env["NVIDIA_GPU_MEMORY_MIB"] ?? "",
      ],
      {
        env: { ...env, PYTHONPATH: join(REPO, "services/calibrator") },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      },
    );
    return JSON.parse(out) as GpuFit;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const r4 = (x: number) => String(Math.round(x * 1e4) / 1e4);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const pre = env["nnUNet_preprocessed"];
  const results = env["nnUNet_results"];
  if (!pre || !results)
    traceback(
      `TypeError: expected str, bytes or os.PathLike object, not NoneType\n(nnUNet_preprocessed or nnUNet_results is not defined; nnU-Net cannot find its folders)`,
    );
  const dataset = findDataset(pre, args.dataset);
  const plansPath = join(pre, dataset, `${args.plans}.json`);
  if (!existsSync(plansPath)) traceback(`FileNotFoundError: [Errno 2] No such file or directory: '${plansPath}'`);
  const plans = JSON.parse(readFileSync(plansPath, "utf8")) as Obj;
  const plansName = typeof plans["plans_name"] === "string" ? (plans["plans_name"] as string) : args.plans;
  const config = configuration(plans, args.config);
  const batch = Number(config["batch_size"] ?? 2);
  const datasetJson = JSON.parse(readFileSync(join(pre, dataset, "dataset.json"), "utf8")) as {
    labels?: Record<string, unknown>;
    numTraining?: number;
  };
  const labels = Object.entries(datasetJson.labels ?? { background: 0, foreground: 1 })
    .filter(([k]) => k !== "background")
    .map(([, v]) => (Array.isArray(v) ? `(${v.join(", ")})` : String(v)));
  const foldDir = join(results, dataset, `${args.trainer}__${plansName}__${args.config}`, `fold_${args.fold}`);
  const choice = findCurve({
    dir: env["NNUNET_SIM_CURVES"] ?? join(REPO, "test/fixtures/nnunet-logs/curves"),
    dataset,
    configuration: args.config,
    fold: args.fold,
    mapFile: env["NNUNET_SIM_CURVE_MAP"],
  });
  // Not nnU-Net's failure but the simulation's: said in one line, the last of the log, which
  // is what reaches the fold's status (FallbackToLogsOnError).
  if (!choice.ok) die(1, [`devcluster fake-nnunet: ${choice.reason}`]);
  if (!existsSync(choice.path)) die(1, [`devcluster fake-nnunet: the learning curve ${choice.path} does not exist`]);
  const curvePath = choice.path;
  const curve = parseCurve(readFileSync(curvePath, "utf8"));
  const scheduled = stockTrainerEpochs(args.trainer);
  const epochs = Math.min(curve.length, scheduled ?? curve.length);
  if (scheduled !== undefined && curve.length < scheduled)
    process.stderr.write(
      `devcluster fake-nnunet: ${basename(curvePath)} records ${curve.length} epochs, fewer than the ${scheduled} of ${args.trainer}; training ends where the recording does\n`,
    );
  const cases = Math.max(1, Math.round((datasetJson.numTraining ?? 20) / 5));
  mkdirSync(foldDir, { recursive: true });

  if (args.val) {
    const ckpt = join(foldDir, args.valBest ? "checkpoint_best.pth" : "checkpoint_final.pth");
    if (!existsSync(ckpt))
      traceback(
        args.valBest
          ? `FileNotFoundError: [Errno 2] No such file or directory: '${ckpt}'`
          : "RuntimeError: Cannot run validation because the training is not finished yet!",
      );
    const epoch = (JSON.parse(readFileSync(ckpt, "utf8")) as { current_epoch: number }).current_epoch - 1;
    const path = writeSummary(foldDir, checkpointDice(curve, epoch), labels, cases);
    process.stdout.write(`Validation complete\n${path}\n`);
    return;
  }

  let start = 0;
  let best: number | undefined;
  if (args.resume) {
    if (existsSync(join(foldDir, "checkpoint_final.pth"))) {
      process.stdout.write(
        "INFO: Requested to resume training but the final checkpoint exists; nothing left to train.\n",
      );
      return;
    }
    const latest = join(foldDir, "checkpoint_latest.pth");
    if (existsSync(latest))
      ({ current_epoch: start, best_ema: best } = JSON.parse(readFileSync(latest, "utf8")) as {
        current_epoch: number;
        best_ema?: number;
      });
    else
      process.stdout.write(
        "WARNING: Cannot continue training because there seems to be no checkpoint available to continue from. Starting a new training...\n",
      );
  }

  const refPlans = join(pre, dataset, "nnUNetPlans.json");
  const refBatch = existsSync(refPlans)
    ? Number(configuration(JSON.parse(readFileSync(refPlans, "utf8")) as Obj, args.config)["batch_size"] ?? batch)
    : batch;
  const fit = gpuModel(pre, dataset, args.plans, args.config, batch, refBatch);
  const speed = fit ? fit.stepSeconds / fit.refStepSeconds : 1;

  let clock = Date.now();
  while (existsSync(join(foldDir, logFileName(clock)))) clock += 1000;
  const log = new TrainingLog(join(foldDir, logFileName(clock)), clock);
  // nnU-Net prints each log line to stdout too (the container log), timestamp included.
  const echo = (lines: string[]) => void process.stdout.write(log.lines(lines));
  log.raw(
    `${CITATION}\nThis is the configuration used by this training:\nConfiguration name: ${args.config}\n ${pyRepr(config)} \n\nThese are the global plan.json settings:\n ${pyRepr(Object.fromEntries(Object.entries(plans).filter(([k]) => k !== "configurations")))} \n\n`,
  );
  echo([
    "unpacking dataset...",
    "unpacking done...",
    "do_dummy_2d_data_aug: False",
    `Using splits from existing split file: ${join(pre, dataset, "splits_final.json")}`,
    "The split file contains 5 splits.",
    `Desired fold for training: ${args.fold}`,
    `This split has ${(datasetJson.numTraining ?? 20) - cases} training and ${cases} validation cases.`,
  ]);
  if (fit && !fit.fits) {
    echo(["", `Epoch ${start}`, `Current learning rate: ${curve[start]?.lr ?? "0.01"}`]);
    const gib = (m: number) => (m / 1024).toFixed(2);
    traceback(
      `torch.OutOfMemoryError: CUDA out of memory. Tried to allocate ${gib((fit.peakMib - fit.memoryMib) / 2 + 512)} GiB. GPU 0 has a total capacity of ${gib(fit.memoryMib - 600)} GiB of which ${gib(Math.max(0, fit.memoryMib * 0.02))} GiB is free. Of the allocated memory ${gib(fit.memoryMib * 0.95)} GiB is allocated by PyTorch, and ${gib(fit.memoryMib * 0.01)} GiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)`,
    );
  }

  const eps = Number(env["NNUNET_SIM_EPOCHS_PER_SECOND"] ?? 0);
  const scale = Number(env["NNUNET_SIM_TIME_SCALE"] ?? 1200);
  const checkpoint = (name: string, epoch: number) => {
    // Written whole then renamed, so a reader never sees half a checkpoint.
    const tmp = join(foldDir, `.${name}.tmp`);
    writeFileSync(
      tmp,
      JSON.stringify({
        simulated: true,
        current_epoch: epoch + 1,
        best_ema: best,
        plans_name: plansName,
        batch_size: batch,
        trainer: args.trainer,
      }),
    );
    renameSync(tmp, join(foldDir, name));
  };
  // Wake-ups are at least NNUNET_SIM_TICK_MS apart (default 200 ms): epochs that fell due
  // meanwhile are written together, each with its own simulated timestamps. A hundred
  // trainers at 20 epochs/s then cost little CPU, and the log is the same.
  const tickMs = Number(env["NNUNET_SIM_TICK_MS"] ?? 200);
  // A hang (a deadlocked data-loader worker, a stuck NCCL call): at epoch N nnU-Net prints
  // the epoch's first lines and then nothing, alive, until it is killed. Once per fold folder
  // (a marker file), so that the resumed attempt trains on past it.
  const hangAt = env["NNUNET_SIM_HANG_AT_EPOCH"] === undefined ? undefined : Number(env["NNUNET_SIM_HANG_AT_EPOCH"]);
  const hangMarker = join(foldDir, `.sim-hung-at-epoch-${hangAt}`);
  const wallStart = Date.now();
  let wallDue = 0;
  let last: CurveRow | undefined;
  let pending = "";
  const flush = () => {
    if (!pending) return;
    log.raw(pending);
    process.stdout.write(pending);
    pending = "";
  };
  for (let e = start; e < epochs; e++) {
    const row = curve[e]!;
    const seconds = row.epochTime * speed;
    wallDue += eps > 0 ? 1000 / eps : (seconds * 1000) / scale;
    const wait = wallStart + wallDue - Date.now();
    if (wait > 0) {
      flush();
      await sleep(Math.max(wait, tickMs));
    }
    pending += log.format(["", `Epoch ${e}`, `Current learning rate: ${row.lr}`]);
    if (e === hangAt && !existsSync(hangMarker)) {
      flush();
      writeFileSync(hangMarker, `${new Date().toISOString()}\n`);
      await new Promise<never>(() => setInterval(() => undefined, 60_000));
    }
    log.clockMs += seconds * 1000;
    const lines = [
      `train_loss ${row.trainLoss}`,
      `val_loss ${row.valLoss}`,
      `Pseudo dice [${row.dice.join(", ")}]`,
      `Epoch time: ${Math.round(seconds * 100) / 100} s`,
    ];
    if (best === undefined || row.ema > best) {
      best = row.ema;
      lines.push(`Yayy! New best EMA pseudo Dice: ${r4(row.ema)}`);
      checkpoint("checkpoint_best.pth", e);
    }
    pending += log.format(lines);
    if ((e + 1) % 50 === 0 && e !== epochs - 1) {
      // What the checkpoint covers is in the log before the checkpoint exists.
      flush();
      checkpoint("checkpoint_latest.pth", e);
    }
    log.clockMs += 1500;
    last = row;
  }
  flush();
  checkpoint("checkpoint_final.pth", (last ?? curve[epochs - 1]!).epoch);
  rmSync(join(foldDir, "checkpoint_latest.pth"), { force: true });
  echo(["Training done."]);
  const dice = checkpointDice(curve, epochs - 1);
  writeSummary(foldDir, dice, labels, cases);
  echo(["Validation complete", `Mean Validation Dice:  ${dice.reduce((a, b) => a + b, 0) / dice.length}`]);
}

await main();
