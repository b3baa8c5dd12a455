import { startDevCluster } from "../src/index.js";

// The devcluster in its own process for the benchmark, so that the load generator does
// not share its event loop. Reports its URL over IPC and answers RSS queries.

const dc = await startDevCluster({ tls: false });
process.send?.({ type: "ready", url: dc.url, token: dc.adminToken });
process.on("message", (msg: { type: string }) => {
  if (msg.type === "rss") {
    (globalThis as { gc?: () => void }).gc?.();
    process.send?.({ type: "rss", rss: process.memoryUsage().rss, objects: dc.cluster.store.count("pods") });
  }
  if (msg.type === "stop") void dc.stop().then(() => process.exit(0));
});
