import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { CliError, UsageError } from "./errors.js";
import type { GlobalFlags } from "./args.js";

// Which cluster, user and namespace, as kubectl decides it: --kubeconfig, else every file
// in $KUBECONFIG merged (the first file's current context wins), else ~/.kube/config;
// --context picks a context; -n, else the context's namespace, else "default".
// The environment is passed in (main.ts reads process.env) so tests need no globals.

export interface Target {
  kubeConfig: KubeConfig;
  /** undefined with -A. */
  namespace: string | undefined;
  /** Where the config came from, for error messages. */
  source: string;
}

export function loadTarget(flags: GlobalFlags, env: Readonly<Record<string, string | undefined>>): Target {
  const kc = new KubeConfig();
  let source: string;
  if (flags.kubeconfig !== undefined) {
    if (!existsSync(flags.kubeconfig)) throw new UsageError(`--kubeconfig ${flags.kubeconfig}: no such file`);
    load(kc, flags.kubeconfig);
    source = flags.kubeconfig;
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter((f) => f && existsSync(f));
    if (files.length === 0)
      throw new CliError(`KUBECONFIG=${env.KUBECONFIG} names no existing file: fix it or pass --kubeconfig PATH`);
    load(kc, files[0] as string);
    for (const file of files.slice(1)) {
      const more = new KubeConfig();
      load(more, file);
      // kubectl's rule: the first file that names a cluster, user or context wins (client-node's
      // mergeConfig throws on duplicates instead).
      for (const cluster of more.getClusters()) if (!kc.getCluster(cluster.name)) kc.addCluster(cluster);
      for (const user of more.getUsers()) if (!kc.getUser(user.name)) kc.addUser(user);
      for (const context of more.getContexts()) if (!kc.getContextObject(context.name)) kc.addContext(context);
      if (!kc.getCurrentContext() && more.getCurrentContext()) kc.setCurrentContext(more.getCurrentContext());
    }
    source = files.join(delimiter);
  } else {
    const home = env.HOME ?? env.USERPROFILE;
    const file = home ? join(home, ".kube", "config") : undefined;
    if (!file || !existsSync(file)) throw new CliError("no kubeconfig found: set KUBECONFIG or pass --kubeconfig PATH");
    load(kc, file);
    source = file;
  }
  if (flags.context !== undefined) {
    if (!kc.getContextObject(flags.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new UsageError(`context "${flags.context}" is not in ${source} (contexts: ${known.join(", ") || "none"})`);
    }
    kc.setCurrentContext(flags.context);
  }
  if (!kc.getCurrentCluster())
    throw new CliError(`${source} has no current context with a cluster: pass --context NAME`);
  const namespace = flags.allNamespaces
    ? undefined
    : (flags.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default");
  return { kubeConfig: kc, namespace, source };
}

function load(kc: KubeConfig, file: string): void {
  try {
    kc.loadFromFile(file);
  } catch (cause) {
    throw new CliError(`cannot read kubeconfig ${file}: ${(cause as Error).message}`, 1, { cause });
  }
}
