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
  | { name: "logs"; run: string; fold: string; follow: boolean; container?: string };

export interface Invocation {
  command: Command;
  flags: GlobalFlags;
}

export const COMMANDS = ["status", "watch", "stop", "logs"] as const;

export const USAGE = `kubectl nnunet: TrainingRuns of nnunet-operator from the command line

Usage:
  kubectl nnunet status [RUN] [-n NS | -A]        one line per run, or a table per fold of RUN
  kubectl nnunet watch [RUN] [-n NS] [--once]     live view of RUN (or every run) and the queue
  kubectl nnunet stop RUN --fold N [--reason TEXT]  stop a training fold now (policy Manual)
  kubectl nnunet logs RUN --fold N [-f] [-c CONTAINER]  logs of the fold's training pod

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
  commands?: readonly Command["name"][];
}

const FLAGS: Record<string, FlagSpec> = {
  "--kubeconfig": { value: true },
  "--context": { value: true },
  "--namespace": { value: true },
  "--all-namespaces": { value: false, commands: ["status", "watch"] },
  "--help": { value: false },
  "--fold": { value: true, commands: ["stop", "logs"] },
  "--reason": { value: true, commands: ["stop"] },
  "--follow": { value: false, commands: ["logs"] },
  "--container": { value: true, commands: ["logs"] },
  "--once": { value: false, commands: ["watch"] },
};

const SHORT: Record<string, string> = { "-n": "--namespace", "-A": "--all-namespaces", "-h": "--help", "-f": "--follow", "-c": "--container" };

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
  if (!(COMMANDS as readonly string[]).includes(name)) throw new UsageError(`unknown command "${name}": use one of ${COMMANDS.join(", ")}`);
  const commandName = name as (typeof COMMANDS)[number];
  for (const flag of flags.keys()) {
    const allowed = FLAGS[flag]?.commands;
    if (allowed && !allowed.includes(commandName)) throw new UsageError(`flag ${flag} does not apply to "${commandName}"`);
  }
  const maxPositionals = 1;
  if (rest.length > maxPositionals) throw new UsageError(`"${commandName}" takes one RUN, got ${rest.length}: ${rest.join(" ")}`);
  const run = rest[0];

  switch (commandName) {
    case "status":
      return { command: run === undefined ? { name: "status" } : { name: "status", run }, flags: global };
    case "watch": {
      if (run !== undefined && global.allNamespaces) throw new UsageError("watch RUN names one run: drop -A or the RUN");
      const once = flags.has("--once");
      return { command: run === undefined ? { name: "watch", once } : { name: "watch", run, once }, flags: global };
    }
    case "stop":
    case "logs": {
      if (run === undefined) throw new UsageError(`"${commandName}" needs a RUN: kubectl nnunet ${commandName} RUN --fold N`);
      const fold = str(flags, "--fold");
      if (fold === undefined) throw new UsageError(`"${commandName}" needs --fold N (0 to 4 or all): kubectl nnunet ${commandName} ${run} --fold 0`);
      if (!FOLD.test(fold)) throw new UsageError(`--fold ${fold} is not a fold: use 0 to 4 or all`);
      if (commandName === "stop") {
        const reason = str(flags, "--reason");
        return { command: { name: "stop", run, fold, ...(reason !== undefined && { reason }) }, flags: global };
      }
      const container = str(flags, "--container");
      return { command: { name: "logs", run, fold, follow: flags.has("--follow"), ...(container !== undefined && { container }) }, flags: global };
    }
  }
}
