import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { TrainingRun } from "@nnunet-operator/api";
import { watchRuns } from "@nnunet-operator/cli";
import { ClientPort } from "@nnunet-operator/kube";
import { sleep } from "./processes.js";
import { repoRoot, type Stack, startStack } from "./stack.js";
import { formatSummary, runFigures } from "./summary.js";

// `npm run demo`: the devcluster, `helm install` of the chart with the devcluster's values
// (scripts/demo/stack.ts), `kubectl apply -f` of the two sample runs, the live view of
// kubectl-nnunet, and a summary. `--keep` leaves it running for
// kubectl. SIGINT/SIGTERM stop everything it started. Without a TTY (or with CI set) the
// view prints one line per change instead of redrawing.

const USAGE = `usage: npm run demo [-- --keep] [--time-scale N]
  --keep          leave the cluster running after the runs finish (Ctrl-C stops it)
  --time-scale N  recorded training seconds replayed per second (default 1200: about three minutes)`;

interface Args {
  keep: boolean;
  timeScale: number | undefined;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { keep: false, timeScale: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--keep") args.keep = true;
    else if (a === "--time-scale") args.timeScale = Number(argv[++i]);
    else if (a === "-h" || a === "--help") {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`unknown argument ${a}\n${USAGE}`);
      process.exit(2);
    }
  }
  if (args.timeScale !== undefined && !(args.timeScale > 0)) {
    console.error(`--time-scale must be a positive number\n${USAGE}`);
    process.exit(2);
  }
  return args;
}

const NAMESPACE = "default";
const HIGH = join(repoRoot, "deploy/samples/trainingrun.yaml");
const LOW = join(repoRoot, "deploy/samples/trainingrun-low-priority.yaml");
const FINISHED = new Set(["Succeeded", "Failed"]);
// The samples' run names: each is named after the data its folds replay.
const HIGH_RUN = "topcow-ctamra";
const LOW_RUN = "topcow-mra";

let starting: Promise<Stack> | undefined;
let stopping: Promise<void> | undefined;
// A signal during the start waits for it to finish, so that nothing half-started survives.
const stopAll = (): Promise<void> =>
  (stopping ??= (async () => void (await (await starting?.catch(() => undefined))?.stop()))());

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const tty = Boolean(process.stdout.isTTY) && !process.env.CI;
  const started = Date.now();
  const shutdown = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    // `on`, not `once`: a second Ctrl-C must not kill the demo halfway through stopping,
    // and the nats-server helper re-raises a signal nobody else listens to.
    process.on(signal, () => {
      if (shutdown.signal.aborted) return;
      shutdown.abort();
      if (tty) process.stdout.write("\x1b[?25h");
      console.log(`\n${signal}: stopping everything the demo started...`);
      void stopAll()
        .then(() => console.log("stopped."))
        .catch((err: unknown) => console.error(err))
        .finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
    });
  }

  console.log(
    "Starting the devcluster (4 x 4 L40S + 1 CPU node, RBAC), then: helm install nnunet-operator charts/nnunet-operator -n nnunet-system --create-namespace -f scripts/demo/values-devcluster.yaml --wait",
  );
  starting = startStack({ timeScale: args.timeScale ?? 1200, logLevel: "info" });
  const stack = await starting;
  if (shutdown.signal.aborted) return;
  const { dc } = stack;
  console.log(
    `  cluster ${dc.url}; chart installed, every pod Ready after ${stack.installSeconds.toFixed(1)} s (NATS StatefulSet, operator and early-stop Deployments); work folder ${stack.workDir}`,
  );
  const kc = new KubeConfig();
  kc.loadFromFile(stack.kubeconfigPath);
  const port = new ClientPort(kc, { fieldManager: "nnunet-demo" });
  const runDef = dc.cluster.resourceFor("nnunet-operator.io/v1alpha1", "TrainingRun");
  const get = (name: string): TrainingRun | undefined => {
    const obj = dc.cluster.store.get(runDef.storage, NAMESPACE, name);
    return obj ? TrainingRun.parse(obj) : undefined;
  };

  await stack.kubectl(["apply", "-f", HIGH]);
  console.log(
    "kubectl apply -f deploy/samples/trainingrun.yaml (topcow-ctamra: TopCoW circle of Willis region on CTA, 5 folds, batch size Auto, early stop Forecast, priority 100)",
  );

  const view = new AbortController();
  shutdown.signal.addEventListener("abort", () => view.abort(), { once: true });
  // The runs as the view last printed them: the demo's own reading of "finished" and its
  // summary come from these, so the summary says what the live lines said last.
  let shown: readonly TrainingRun[] = [];
  const shownRun = (name: string): TrainingRun | undefined => shown.find((r) => r.metadata.name === name);
  const viewing = watchRuns({
    port,
    namespace: NAMESPACE,
    out: process.stdout,
    tty,
    width: () => process.stdout.columns ?? 120,
    height: () => process.stdout.rows,
    now: () => new Date(),
    signal: view.signal,
    refreshMs: 1000,
    onDraw: (runs) => (shown = runs),
  });

  // The low-priority run arrives once the first one's folds hold the GPUs: it has to queue.
  while (!shutdown.signal.aborted && !(get(HIGH_RUN)?.status?.folds ?? []).some((f) => f.phase === "Training"))
    await sleep(250);
  if (shutdown.signal.aborted) return;
  await stack.kubectl(["apply", "-f", LOW]);
  if (!tty)
    console.log(
      "kubectl apply -f deploy/samples/trainingrun-low-priority.yaml (topcow-mra: TopCoW vessel segmentation on MRA, 4 folds x 4 GPUs, priority 10)",
    );

  const names = [HIGH_RUN, LOW_RUN];
  while (!shutdown.signal.aborted && !names.every((n) => FINISHED.has(shownRun(n)?.status?.phase ?? "")))
    await sleep(500);
  if (shutdown.signal.aborted) return;
  // The last epochs' times can reach the status just after a run finished; the view prints a
  // summary line again when its figure moves.
  await sleep(1500);
  view.abort();
  await viewing;
  if (tty) process.stdout.write("\x1b[?25h");

  const figures = names.map((n) => runFigures(shownRun(n)!));
  console.log(`\n${formatSummary(figures, (Date.now() - started) / 1000)}`);

  const env = `export KUBECONFIG=${stack.kubeconfigPath} PATH=${join(repoRoot, ".tools/bin")}:${join(repoRoot, "node_modules/.bin")}:$PATH`;
  if (args.keep) {
    console.log(
      [
        "Everything keeps running. In another terminal:",
        `  ${env}`,
        "  kubectl get tr -w; kubectl get pods -n nnunet-system; helm list -n nnunet-system",
        "  kubectl logs -n nnunet-system deploy/nnunet-operator",
        `  kubectl nnunet status ${HIGH_RUN}`,
        `  kubectl nnunet watch ${LOW_RUN}`,
        `  kubectl apply -f deploy/samples/trainingrun.yaml   # after kubectl delete tr ${HIGH_RUN}`,
        "Ctrl-C here stops it all.",
      ].join("\n"),
    );
    await new Promise<void>((resolve) => shutdown.signal.addEventListener("abort", () => resolve(), { once: true }));
    return;
  }
  console.log(
    [
      "Keep exploring: `npm run demo -- --keep` leaves the cluster running and prints:",
      `  ${env.replace(stack.kubeconfigPath, "<kubeconfig>")}`,
      `  kubectl get tr -w; kubectl nnunet status ${HIGH_RUN}; kubectl nnunet logs ${HIGH_RUN} --fold 0`,
      "Architecture and the other commands: README.md",
    ].join("\n"),
  );
  await stopAll();
  process.exit(figures.every((f) => f.phase === "Succeeded") ? 0 : 1);
}

main().catch(async (err: unknown) => {
  console.error(err);
  await stopAll().catch(() => undefined);
  process.exit(1);
});
