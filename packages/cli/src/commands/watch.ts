import type { TrainingRun } from "@nnunet-operator/api";
import { Informer, type KubeObject, type KubePort, KubeApiError, Resources } from "@nnunet-operator/kube";
import { type CommandContext, type Output, describeApiError, parseRun } from "../context.js";
import { NotFoundError } from "../errors.js";
import { EMPTY_PLAIN_STATE, type PlainState, plainUpdates } from "../view/plain.js";
import { renderRunView } from "../view/render.js";

// `kubectl nnunet watch [RUN]` and the demo's live view: an informer on the namespace's
// TrainingRuns drives renderRunView. On a TTY the frame is redrawn in place (cursor up,
// clear to the end of the screen); otherwise plainUpdates appends a line per change.
// It ends when the signal aborts (Ctrl-C), after one frame with `once`, or when the named
// run has Succeeded or Failed.

export interface WatchViewOptions {
  port: Pick<KubePort, "list" | "watch">;
  namespace: string | undefined;
  /** One run and the namespace's queue; undefined: every run. */
  run?: string | undefined;
  out: Output;
  tty: boolean;
  width: () => number;
  /** Terminal rows: a frame taller than the screen is cut, since the cursor cannot move above it. */
  height?: () => number | undefined;
  now: () => Date;
  signal: AbortSignal;
  once?: boolean;
  /** Wait for a named run that does not exist yet instead of failing; default false. */
  waitForRun?: boolean;
  /** Redraws coalesce changes that arrive within this many ms; default 100. */
  coalesceMs?: number;
  /** A TTY also redraws this often, so that ages stay current; default 5000. */
  refreshMs?: number;
  warn?: (message: string) => void;
  /**
   * Called after each frame with the runs it showed. What a caller prints beside the view
   * (the demo's closing summary) then reads the very objects the view last printed, instead
   * of a later read that could say something else.
   */
  onDraw?: (runs: readonly TrainingRun[]) => void;
}

export type WatchEnd = "aborted" | "once" | "finished";

const HIDE_CURSOR = "\x1b[?25l";
const SHOW_CURSOR = "\x1b[?25h";

/** Cursor control for redrawing a frame in place. Pure: the previous height in, the bytes out. */
export function redrawSequence(
  previousLines: number,
  frame: string,
  maxLines: number | undefined,
): { text: string; lines: number } {
  let lines = frame.replace(/\n$/, "").split("\n");
  if (maxLines !== undefined && maxLines > 1 && lines.length > maxLines) {
    lines = [
      ...lines.slice(0, maxLines - 1),
      `... ${lines.length - maxLines + 1} more lines: widen or heighten the terminal`,
    ];
  }
  const up = previousLines > 0 ? `\x1b[${previousLines}F` : "";
  return { text: `${up}\x1b[J${lines.join("\n")}\n`, lines: lines.length };
}

export function selectRuns(
  runs: readonly TrainingRun[],
  run: string | undefined,
  namespace: string | undefined,
): TrainingRun[] {
  if (run === undefined) return [...runs];
  const target = runs.filter(
    (r) => r.metadata.name === run && (namespace === undefined || r.metadata.namespace === namespace),
  );
  const ns = target[0]?.metadata.namespace ?? namespace;
  const queue = runs.filter(
    (r) => r.metadata.name !== run && r.metadata.namespace === ns && r.status?.queue?.position !== undefined,
  );
  return [...target, ...queue];
}

export async function watchRuns(o: WatchViewOptions): Promise<WatchEnd> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  o.signal.addEventListener("abort", onAbort, { once: true });
  let firstError: unknown;
  let lastError: string | undefined;
  const warned = new Set<string>();
  const informer = new Informer<KubeObject>({
    port: o.port,
    resource: Resources.trainingRuns,
    ...(o.namespace !== undefined && { namespace: o.namespace }),
    onError: (err) => {
      // Before the first list nothing is on screen: fail like kubectl. Later: say so and retry.
      if (!informer.hasSynced()) {
        firstError = err;
        stop.abort();
      } else lastError = err instanceof KubeApiError ? describeApiError(err) : String(err);
    },
  });
  const running = informer.run(stop.signal);
  let previousLines = 0;
  let seen = false;
  let plain: PlainState = EMPTY_PLAIN_STATE;
  let end: WatchEnd = "aborted";
  let resolveEnd: () => void = () => {};
  const ended = new Promise<void>((r) => (resolveEnd = r));
  stop.signal.addEventListener("abort", () => resolveEnd(), { once: true });

  // Parsing a run costs about 0.1 ms; a redraw re-parses only what changed since the last.
  let parsedCache = new Map<string, { resourceVersion: string | undefined; run: TrainingRun }>();
  const runs = (): TrainingRun[] => {
    const parsed: TrainingRun[] = [];
    const cache = new Map<string, { resourceVersion: string | undefined; run: TrainingRun }>();
    for (const object of informer.store.list()) {
      const key = `${object.metadata.namespace}/${object.metadata.name}`;
      const hit = parsedCache.get(key);
      if (hit && hit.resourceVersion !== undefined && hit.resourceVersion === object.metadata.resourceVersion) {
        cache.set(key, hit);
        parsed.push(hit.run);
        continue;
      }
      try {
        const run = parseRun(object);
        cache.set(key, { resourceVersion: object.metadata.resourceVersion, run });
        parsed.push(run);
      } catch (err) {
        const version = `${object.metadata.namespace}/${object.metadata.name}@${object.metadata.resourceVersion}`;
        if (!warned.has(version)) o.warn?.((err as Error).message);
        warned.add(version);
      }
    }
    parsedCache = cache;
    return selectRuns(parsed, o.run, o.namespace);
  };

  const draw = (): void => {
    if (stop.signal.aborted) return;
    const shown = runs();
    const target = o.run === undefined ? undefined : shown.find((r) => r.metadata.name === o.run);
    if (o.run !== undefined && !target && seen) {
      // The run was there and is gone: that ends the watch, it is not a mistake of the user.
      o.out.write(`TrainingRun ${o.run} was deleted\n`);
      end = "finished";
      stop.abort();
      return;
    }
    if (target) seen = true;
    if (o.run !== undefined && !target && !o.waitForRun) {
      firstError = new NotFoundError(
        `TrainingRun "${o.run}" not found in ${o.namespace === undefined ? "any namespace" : `namespace "${o.namespace}"`}: list runs with kubectl nnunet status${o.namespace ? ` -n ${o.namespace}` : " -A"}`,
      );
      stop.abort();
      return;
    }
    if (o.tty) {
      let frame =
        shown.length > 0 || o.run === undefined
          ? renderRunView(shown, { width: o.width(), tty: true, now: o.now() })
          : `waiting for TrainingRun ${o.run} to appear...\n`;
      if (lastError) frame += `\x1b[33m${lastError}; retrying\x1b[0m\n`;
      const { text, lines } = redrawSequence(previousLines, frame, o.height?.());
      o.out.write((previousLines === 0 ? HIDE_CURSOR : "") + text);
      previousLines = lines;
    } else if (o.once) {
      // A snapshot: the whole frame, plain, rather than a log of changes.
      o.out.write(renderRunView(shown, { width: o.width(), tty: false, now: o.now() }));
    } else {
      const update = plainUpdates(plain, shown);
      plain = update.state;
      const stamp = o.now().toISOString().slice(11, 19);
      for (const line of update.lines) o.out.write(`${stamp} ${line}\n`);
    }
    lastError = undefined;
    o.onDraw?.(shown);
    if (o.once) end = "once";
    else if (target && (target.status?.phase === "Succeeded" || target.status?.phase === "Failed")) end = "finished";
    else return;
    stop.abort();
  };

  let pending: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (pending || stop.signal.aborted) return;
    pending = setTimeout(() => {
      pending = undefined;
      draw();
    }, o.coalesceMs ?? 100);
  };
  const refresh = o.tty && !o.once ? setInterval(draw, o.refreshMs ?? 5000) : undefined;
  // After a resize the terminal has rewrapped the old frame, so counting its lines back up
  // would miss: clear the screen and draw anew.
  const onResize = (): void => {
    if (previousLines === 0 || stop.signal.aborted) return;
    o.out.write("\x1b[2J\x1b[H");
    previousLines = 0;
    draw();
  };
  if (o.tty) o.out.on?.("resize", onResize);
  try {
    if (await informer.waitForSync(stop.signal)) {
      informer.addHandler(schedule);
      draw();
    }
    await ended;
  } finally {
    if (pending) clearTimeout(pending);
    if (refresh) clearInterval(refresh);
    if (o.tty) o.out.off?.("resize", onResize);
    stop.abort();
    o.signal.removeEventListener("abort", onAbort);
    await running;
    if (o.tty && previousLines > 0) o.out.write(SHOW_CURSOR);
  }
  if (firstError !== undefined) throw firstError;
  return end;
}

export async function watchCommand(ctx: CommandContext, run: string | undefined, once: boolean): Promise<number> {
  const tty = ctx.stdout.isTTY === true;
  await watchRuns({
    port: ctx.port,
    namespace: ctx.namespace,
    run,
    out: ctx.stdout,
    tty,
    // One column spare: a line that fills the last column makes some terminals wrap early.
    width: () => (ctx.stdout.columns ?? 100) - 1,
    height: () => ctx.stdout.rows,
    now: ctx.now,
    signal: ctx.signal,
    once,
    warn: (m) => ctx.stderr.write(`warning: ${m}\n`),
  });
  return 0;
}
