import { PassThrough } from "node:stream";
import { type KubeConfig, Log } from "@kubernetes/client-node";
import type { LogStreamer } from "./commands/logs.js";
import { CliError, NotFoundError } from "./errors.js";

// pods/log over client-node's Log. It resolves once the response has started and pipes
// the body into a stream it then ends; we copy chunks to our output and wait for the end,
// or abort the request on Ctrl-C.

export function clientLogStreamer(kubeConfig: KubeConfig): LogStreamer {
  const api = new Log(kubeConfig);
  return {
    async stream(namespace, pod, container, options, out, signal) {
      const sink = new PassThrough();
      sink.on("data", (chunk: Buffer) => out.write(chunk.toString("utf8")));
      const ended = new Promise<void>((resolve) => {
        sink.on("end", resolve);
        sink.on("close", resolve);
        sink.on("error", () => resolve());
      });
      let controller: AbortController;
      try {
        controller = await api.log(namespace, pod, container, sink, { follow: options.follow });
      } catch (cause) {
        const code = (cause as { code?: number }).code;
        const body = (cause as { body?: { message?: string } }).body;
        const detail = body?.message ? `: ${body.message}` : "";
        if (code === 404)
          throw new NotFoundError(
            `no log for container ${container} of pod ${namespace}/${pod} (404)${detail}: the pod may have been replaced; run the command again`,
            { cause },
          );
        // The API server answers 400 while a container is still waiting to start.
        const hint = code === 400 ? ": the container may not have started yet; try again in a moment" : "";
        throw new CliError(
          `cannot read the log of container ${container} of pod ${namespace}/${pod}${code ? ` (${code})` : ""}${detail}${hint}`,
          1,
          { cause },
        );
      }
      const onAbort = (): void => {
        controller.abort();
        sink.end();
      };
      if (signal.aborted) onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      await ended;
      signal.removeEventListener("abort", onAbort);
    },
  };
}
