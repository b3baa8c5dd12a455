import { parseArgs } from "node:util";
import { pino } from "pino";
import { startDevCluster } from "./server.js";
import { NODE_ACTIONS, type NodeAction } from "./nodes/node-control.js";
import { runNodeCommand } from "./nodes/node-cli.js";
import { parseNodeSpec } from "./nodes/node-spec.js";

// `devcluster serve`: runs the emulator until SIGINT/SIGTERM and prints where its
// kubeconfig is (HTTPS with a self-signed certificate; --http for plain HTTP). The only
// place that reads argv and exits.

const USAGE = `usage: devcluster serve [--port N] [--host 127.0.0.1] [--kubeconfig PATH] [--rbac] [--http] [-v] [--manifest FILE]... [--token TOKEN=USER]...
                        [--nodes SPEC] [--image-map FILE] [--data-root DIR] [--time-scale N | --epochs-per-second N] [--curve-map FILE] [--seed-claim [NS/]NAME]... [--cert-manager]
       devcluster node fail|recover|cordon|uncordon NAME [--kubeconfig PATH]   (default: $KUBECONFIG)`;

async function nodeCommand(rest: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: rest,
    options: { kubeconfig: { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  const [action, name] = positionals;
  if (!action || !NODE_ACTIONS.includes(action as NodeAction) || !name || positionals.length > 2) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const kubeconfig = values.kubeconfig ?? process.env["KUBECONFIG"];
  if (!kubeconfig) {
    process.stderr.write(
      "devcluster: no kubeconfig: pass --kubeconfig or set KUBECONFIG (devcluster serve prints it)\n",
    );
    return 2;
  }
  await runNodeCommand(action as NodeAction, name, kubeconfig);
  process.stdout.write(
    `node/${name} ${action === "fail" ? "failed" : action === "recover" ? "recovered" : `${action}ed`}\n`,
  );
  return 0;
}

function positiveNumber(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, got "${v}"`);
  return n;
}

class UsageError extends Error {
  override readonly name = "UsageError";
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "node") return nodeCommand(rest);
  if (command !== "serve") {
    process.stderr.write(`${USAGE}\n`);
    return command === undefined || command === "--help" ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
      kubeconfig: { type: "string" },
      rbac: { type: "boolean", default: false },
      http: { type: "boolean", default: false },
      verbose: { type: "boolean", short: "v", default: false },
      manifest: { type: "string", multiple: true, default: [] },
      token: { type: "string", multiple: true, default: [] },
      nodes: { type: "string" },
      "image-map": { type: "string" },
      "data-root": { type: "string" },
      "time-scale": { type: "string" },
      "epochs-per-second": { type: "string" },
      "curve-map": { type: "string" },
      "seed-claim": { type: "string", multiple: true, default: [] },
      "cert-manager": { type: "boolean", default: false },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`devcluster: --port must be an integer between 0 and 65535, got "${values.port}"\n`);
    return 2;
  }
  const tokens: Record<string, string> = {};
  for (const t of values.token) {
    const i = t.indexOf("=");
    if (i <= 0) {
      process.stderr.write(`devcluster: --token must be TOKEN=USER, got "${t}"\n`);
      return 2;
    }
    tokens[t.slice(0, i)] = t.slice(i + 1);
  }
  let timeScale: number | undefined;
  let epochsPerSecond: number | undefined;
  try {
    timeScale = positiveNumber("--time-scale", values["time-scale"]);
    epochsPerSecond = positiveNumber("--epochs-per-second", values["epochs-per-second"]);
    if (values.nodes !== undefined) parseNodeSpec(values.nodes);
  } catch (error) {
    process.stderr.write(`devcluster: ${(error as Error).message}\n`);
    return 2;
  }
  const seedClaims = values["seed-claim"].map((s) =>
    s.includes("/") ? { namespace: s.split("/")[0]!, name: s.split("/")[1]! } : { name: s },
  );
  const log = pino({ name: "devcluster", level: values.verbose ? "debug" : "info" });
  const dc = await startDevCluster({
    logger: log,
    ...(values.nodes !== undefined ? { nodes: values.nodes } : {}),
    ...(values["image-map"] ? { imageMap: values["image-map"] } : {}),
    ...(values["data-root"] ? { dataRoot: values["data-root"] } : {}),
    ...(timeScale !== undefined ? { timeScale } : {}),
    ...(epochsPerSecond !== undefined ? { epochsPerSecond } : {}),
    ...(values["curve-map"] ? { curveMap: values["curve-map"] } : {}),
    ...(seedClaims.length > 0 ? { seedClaims } : {}),
    certManager: values["cert-manager"],
    port,
    host: values.host,
    rbac: values.rbac,
    tls: !values.http,
    manifests: values.manifest,
    tokens,
    ...(values.kubeconfig ? { kubeconfigPath: values.kubeconfig } : {}),
  });
  log.info(
    {
      url: dc.url,
      kubeconfig: dc.kubeconfigPath,
      rbac: values.rbac,
      nodes: values.nodes,
      dataRoot: dc.simulation?.dataRoot,
    },
    "devcluster serving",
  );
  process.stdout.write(`export KUBECONFIG=${dc.kubeconfigPath}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await dc.stop();
  log.info("devcluster stopped");
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`devcluster: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
