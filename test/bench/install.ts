// `npm run bench:install`: seconds from `helm install` to every pod of the chart Ready (helm
// --wait: the NATS StatefulSet and the operator and early-stop Deployments, 2 replicas each),
// and from `helm upgrade` with a changed value (operator.logLevel) to the operator
// Deployment's rollout complete, on the devcluster on this machine. Three rounds, a fresh
// devcluster each.
import { removeWorkDir, startStack, CHART, DEVCLUSTER_VALUES, RELEASE, SYSTEM_NS } from "../../scripts/demo/stack.js";

const ROUNDS = Number(process.argv[2] ?? 3);
const install: number[] = [];
const upgrade: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const stack = await startStack({ operatorReplicas: 2 });
  try {
    install.push(stack.installSeconds);
    const started = Date.now();
    await stack.helm([
      "upgrade",
      RELEASE,
      CHART,
      "--namespace",
      SYSTEM_NS,
      "--values",
      DEVCLUSTER_VALUES,
      "--reuse-values",
      "--set",
      `operator.logLevel=${i % 2 ? "info" : "debug"}`,
      "--wait",
      "--timeout",
      "300s",
    ]);
    await stack.kubectl(["rollout", "status", "deployment/nnunet-operator", "--namespace", SYSTEM_NS, "--timeout=60s"]);
    upgrade.push((Date.now() - started) / 1000);
  } finally {
    await stack.stop();
    removeWorkDir(stack.workDir);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const rows: [string, number[], number][] = [
  ["helm install --wait -> every pod Ready", install, 90],
  ["helm upgrade (operator.logLevel) --wait -> rollout complete", upgrade, 120],
];
console.log(`| step (${ROUNDS} rounds) | median s | max s | budget s | ok |`);
console.log(`|---|---:|---:|---:|---|`);
for (const [name, xs, budget] of rows)
  console.log(
    `| ${name} | ${median(xs).toFixed(1)} | ${Math.max(...xs).toFixed(1)} | ${budget} | ${median(xs) <= budget ? "yes" : "NO"} |`,
  );
