import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { badRequest, methodNotAllowed, ApiError } from "../api/errors.js";
import type { SubresourceHandler } from "../http/api-handler.js";
import { queryFlag } from "../http/query.js";

// `kubectl logs` (GET pods/{name}/log): container, follow, previous, tailLines,
// limitBytes. Logs are the files the kubelet's processes write; -f follows the file until
// the container is no longer running.

export interface LogSource {
  /** Containers of a pod the kubelet runs, or undefined when it runs no such pod. */
  containers(namespace: string, name: string): { init: string[]; main: string[] } | undefined;
  /** Log file of the current (or previous) run of a container, and whether it still runs. */
  log(
    namespace: string,
    name: string,
    container: string,
    previous: boolean,
  ): { path: string; running: () => boolean } | undefined;
}

/** The last `lines` lines of a file, at most `maxBytes` (FallbackToLogsOnError). */
export function tailText(path: string, lines: number, maxBytes: number): string {
  if (!existsSync(path)) return "";
  const text = readFrom(path, Math.max(0, statSync(path).size - maxBytes)).toString("utf8");
  const all = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  return all.slice(-lines).join("\n") + (text.endsWith("\n") ? "\n" : "");
}

function readFrom(path: string, offset: number): Buffer {
  if (!existsSync(path)) return Buffer.alloc(0);
  const size = statSync(path).size;
  if (size <= offset) return Buffer.alloc(0);
  const buf = Buffer.alloc(size - offset);
  const fd = openSync(path, "r");
  try {
    readSync(fd, buf, 0, buf.length, offset);
  } finally {
    closeSync(fd);
  }
  return buf;
}

export function logHandler(source: LogSource): SubresourceHandler {
  return async ({ req, res, namespace, name, query }) => {
    if (req.method !== "GET" || !namespace) throw methodNotAllowed();
    const names = source.containers(namespace, name);
    if (!names) throw badRequest(`pod ${name} is not running on a devcluster node yet`);
    let container = query.get("container") ?? undefined;
    if (!container) {
      if (names.main.length !== 1)
        throw badRequest(
          `a container name must be specified for pod ${name}, choose one of: [${names.main.join(" ")}] or one of the init containers: [${names.init.join(" ")}]`,
        );
      container = names.main[0]!;
    }
    if (![...names.init, ...names.main].includes(container))
      throw badRequest(`container ${container} is not valid for pod ${name}`);
    const previous = queryFlag(query, "previous");
    const log = source.log(namespace, name, container, previous);
    if (!log) {
      if (previous) throw badRequest(`previous terminated container "${container}" in pod "${name}" not found`);
      throw new ApiError(
        400,
        "BadRequest",
        `container "${container}" in pod "${name}" is waiting to start: ContainerCreating`,
      );
    }
    const tail = query.get("tailLines");
    const limit = query.get("limitBytes");
    let text = tail !== null ? Buffer.from(tailText(log.path, Number(tail), 64 * 1024 * 1024)) : readFrom(log.path, 0);
    if (limit !== null) text = text.subarray(0, Number(limit));
    res.writeHead(200, { "content-type": "text/plain", "transfer-encoding": "chunked" });
    res.write(text);
    if (!queryFlag(query, "follow")) {
      res.end();
      return;
    }
    let offset = existsSync(log.path) ? statSync(log.path).size : 0;
    let closed = false;
    res.on("close", () => (closed = true));
    while (!closed) {
      await new Promise((r) => setTimeout(r, 100));
      const more = readFrom(log.path, offset);
      offset += more.length;
      if (more.length > 0) res.write(more);
      if (!log.running() && more.length === 0) break;
    }
    res.end();
  };
}
