import { UsageError } from "./errors.js";

// The plugin's command line, parsed by hand: kubectl passes a plugin its arguments
// verbatim and none of its own flags, so --kubeconfig, --context and -n are ours to read.
// Pure: argv in, an Invocation or a UsageError out.

export interface GlobalFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces: boolean;
}

export type Command =
  | { name: "help"; topic?: string }
  | { name: "status"; run?: string }
  | { name: "watch"; run?: string; once: boolean }
  | { name: "stop"; run: string; fold: string; reason?: string }
  | { name: "logs"; run: string; fold: string; follow: boolean; container?: string }
  | { name: "explain"; run: string; fold: string; output?: string; stream: StreamFlags }
  | { name: "curves-export"; run?: string; dir: string; stream: StreamFlags };

/** Where the epochs are read from (explain, curves export); the NATS URL falls back to $NATS_URL. */
export interface StreamFlags {
  nats?: string;
  creds?: string;
  credsSecret?: string;
}

export interface Invocation {
  command: Command;
  flags: GlobalFlags;
}

export const COMMANDS = ["status", "watch", "stop", "logs", "explain", "curves"] as const;

export const USAGE = `kubectl nnunet: TrainingRuns of nnunet-operator from the command line

Usage:
  kubectl nnunet status [RUN] [-n NS | -A]        one line per run, or a table per fold of RUN
  kubectl nnunet watch [RUN] [-n NS] [--once]     live view of RUN (or every run) and the queue
  kubectl nnunet stop RUN --fold N [--reason TEXT]  stop a training fold now (policy Manual)
  kubectl nnunet logs RUN --fold N [-f] [-c CONTAINER]  logs of the fold's training pod
  kubectl nnunet explain RUN --fold N [--output FILE.svg]  the fold's curve, its stop and why
  kubectl nnunet curves export [RUN] --dir DIR    the stored epochs as the evaluator's CSV files

Flags of explain and curves export (they read the epochs from the NATS JetStream):
  --nats URL          NATS URL (default: $NATS_URL, then nats://127.0.0.1:4222, e.g. after
                      kubectl -n nnunet-system port-forward svc/nnunet-operator-nats 4222)
  --creds FILE        NATS credentials file, when NATS runs with authentication
  --creds-secret [NS/]NAME[:KEY]  read the credentials from a Secret (key nats.creds)

Flags of every command:
  --kubeconfig PATH   kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)
  --context NAME      kubeconfig context to use
  -n, --namespace NS  namespace (default: the context's namespace, then "default")
  -A, --all-namespaces  every namespace (status and watch)
  -h, --help          this help

Exit codes: 0 done, 1 not found or refused, 2 bad command line.`;

interface FlagSpec {
  value: boolean;
  /** Commands that accept the flag; undefined: every command. */
  commands?: readonly (typeof COMMANDS)[number][];
}

const FLAGS: Record<string, FlagSpec> = {
  "--kubeconfig": { value: true },
  "--context": { value: true },
  "--namespace": { value: true },
  "--all-namespaces": { value: false, commands: ["status", "watch", "curves"] },
  "--help": { value: false },
  "--fold": { value: true, commands: ["stop", "logs", "explain"] },
  "--reason": { value: true, commands: ["stop"] },
  "--follow": { value: false, commands: ["logs"] },
  "--container": { value: true, commands: ["logs"] },
  "--once": { value: false, commands: ["watch"] },
  "--output": { value: true, commands: ["explain"] },
  "--dir": { value: true, commands: ["curves"] },
  "--nats": { value: true, commands: ["explain", "curves"] },
  "--creds": { value: true, commands: ["explain", "curves"] },
  "--creds-secret": { value: true, commands: ["explain", "curves"] },
};

const SHORT: Record<string, string> = {
  "-n": "--namespace",
  "-A": "--all-namespaces",
  "-h": "--help",
  "-f": "--follow",
  "-c": "--container",
};

const FOLD = /^([0-4]|all)$/;

/** Splits argv into flags (long name -> value) and positionals; `--x=v`, `--x v`, `-n v`, `-nv`. */
function tokenize(argv: readonly string[]): { flags: Map<string, string | true>; positionals: string[] } {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = eq < 0 ? arg : arg.slice(0, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else {
      const short = arg.slice(0, 2);
      name = SHORT[short] ?? short;
      inline = arg.length > 2 ? arg.slice(2).replace(/^=/, "") : undefined;
    }
    const spec = FLAGS[name];
    if (!spec) throw new UsageError(`unknown flag ${arg}: see kubectl nnunet --help`);
    if (!spec.value) {
      if (inline !== undefined) throw new UsageError(`flag ${name} takes no value`);
      flags.set(name, true);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || value === "") throw new UsageError(`flag ${name} needs a value`);
    flags.set(name, value);
  }
  return { flags, positionals };
}

function str(flags: Map<string, string | true>, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === "string" ? v : undefined;
}

function streamFlags(flags: Map<string, string | true>): StreamFlags {
  const out: StreamFlags = {};
  const nats = str(flags, "--nats");
  const creds = str(flags, "--creds");
  const credsSecret = str(flags, "--creds-secret");
  if (nats !== undefined) out.nats = nats;
  if (creds !== undefined) out.creds = creds;
  if (credsSecret !== undefined) out.credsSecret = credsSecret;
  if (creds !== undefined && credsSecret !== undefined)
    throw new UsageError("use either --creds FILE or --creds-secret NAME, not both");
  return out;
}

/** `curves export [RUN] --dir DIR`. */
function parseCurves(rest: readonly string[], flags: Map<string, string | true>, global: GlobalFlags): Invocation {
  const [sub, run, ...extra] = rest;
  if (sub !== "export")
    throw new UsageError(`"curves" has one subcommand, export: kubectl nnunet curves export [RUN] --dir DIR`);
  if (extra.length > 0)
    throw new UsageError(`"curves export" takes at most one RUN, got ${rest.length - 1}: ${rest.slice(1).join(" ")}`);
  if (run !== undefined && global.allNamespaces)
    throw new UsageError("curves export RUN names one run: drop -A or the RUN");
  const dir = str(flags, "--dir");
  if (dir === undefined) throw new UsageError(`"curves export" needs --dir DIR, the folder to write the CSV files to`);
  return {
    command: { name: "curves-export", ...(run !== undefined && { run }), dir, stream: streamFlags(flags) },
    flags: global,
  };
}

export function parseArgs(argv: readonly string[]): Invocation {
  const { flags, positionals } = tokenize(argv);
  const global: GlobalFlags = { allNamespaces: flags.has("--all-namespaces") };
  const kubeconfig = str(flags, "--kubeconfig");
  const context = str(flags, "--context");
  const namespace = str(flags, "--namespace");
  if (kubeconfig !== undefined) global.kubeconfig = kubeconfig;
  if (context !== undefined) global.context = context;
  if (namespace !== undefined) global.namespace = namespace;
  if (global.allNamespaces && namespace !== undefined) throw new UsageError("use either -n NAMESPACE or -A, not both");

  const [name, ...rest] = positionals;
  if (flags.has("--help") || name === undefined || name === "help") {
    return { command: name === "help" && rest[0] ? { name: "help", topic: rest[0] } : { name: "help" }, flags: global };
  }
  if (!(COMMANDS as readonly string[]).includes(name))
    throw new UsageError(`unknown command "${name}": use one of ${COMMANDS.join(", ")}`);
  const commandName = name as (typeof COMMANDS)[number];
  for (const flag of flags.keys()) {
    const allowed = FLAGS[flag]?.commands;
    if (allowed && !allowed.includes(commandName))
      throw new UsageError(`flag ${flag} does not apply to "${commandName}"`);
  }
  if (commandName === "curves") return parseCurves(rest, flags, global);
  const maxPositionals = 1;
  if (rest.length > maxPositionals)
    throw new UsageError(`"${commandName}" takes one RUN, got ${rest.length}: ${rest.join(" ")}`);
  const run = rest[0];

  switch (commandName) {
    case "status":
      return { command: run === undefined ? { name: "status" } : { name: "status", run }, flags: global };
    case "watch": {
      if (run !== undefined && global.allNamespaces)
        throw new UsageError("watch RUN names one run: drop -A or the RUN");
      const once = flags.has("--once");
      return { command: run === undefined ? { name: "watch", once } : { name: "watch", run, once }, flags: global };
    }
    case "explain": {
      if (run === undefined) throw new UsageError(`"explain" needs a RUN: kubectl nnunet explain RUN --fold N`);
      const fold = str(flags, "--fold");
      if (fold === undefined)
        throw new UsageError(`"explain" needs --fold N (0 to 4 or all): kubectl nnunet explain ${run} --fold 0`);
      if (!FOLD.test(fold)) throw new UsageError(`--fold ${fold} is not a fold: use 0 to 4 or all`);
      const output = str(flags, "--output");
      if (output !== undefined && !output.toLowerCase().endsWith(".svg")) {
        throw new UsageError(
          `--output ${output}: explain writes SVG; name the file FILE.svg (convert it to PNG with rsvg-convert or a browser)`,
        );
      }
      return {
        command: { name: "explain", run, fold, ...(output !== undefined && { output }), stream: streamFlags(flags) },
        flags: global,
      };
    }
    case "stop":
    case "logs": {
      if (run === undefined)
        throw new UsageError(`"${commandName}" needs a RUN: kubectl nnunet ${commandName} RUN --fold N`);
      const fold = str(flags, "--fold");
      if (fold === undefined)
        throw new UsageError(
          `"${commandName}" needs --fold N (0 to 4 or all): kubectl nnunet ${commandName} ${run} --fold 0`,
        );
      if (!FOLD.test(fold)) throw new UsageError(`--fold ${fold} is not a fold: use 0 to 4 or all`);
      if (commandName === "stop") {
        const reason = str(flags, "--reason");
        return { command: { name: "stop", run, fold, ...(reason !== undefined && { reason }) }, flags: global };
      }
      const container = str(flags, "--container");
      return {
        command: {
          name: "logs",
          run,
          fold,
          follow: flags.has("--follow"),
          ...(container !== undefined && { container }),
        },
        flags: global,
      };
    }
  }
}
