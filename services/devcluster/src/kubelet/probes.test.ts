import { strict as assert } from "node:assert";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { runProbe, startProbe, type Probe, type ProbeKind, type ProbeTarget } from "./probes.js";

// Probes against a real local HTTP server: what counts as success, the messages a failure
// gives (the kubelet's wording), named ports, and the thresholds with an injected sleep.

describe("probes", () => {
  let server: Server;
  let port = 0;
  let status = 200;
  const target = (exitCode = 0): ProbeTarget => ({
    podIp: "127.0.0.1",
    ports: [{ name: "metrics", containerPort: port }],
    exec: async () => ({ code: exitCode, output: exitCode ? "not yet" : "" }),
  });
  before(async () => {
    server = createServer((_req, res) => res.writeHead(status).end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as { port: number }).port;
  });
  after(() => server.close());

  const cases: { name: string; probe: () => Probe; status?: number; exit?: number; want: true | RegExp }[] = [
    {
      name: "httpGet on a named port succeeds on 200",
      probe: () => ({ httpGet: { path: "/readyz", port: "metrics" } }),
      want: true,
    },
    {
      name: "httpGet fails on 503 with the status code",
      probe: () => ({ httpGet: { path: "/readyz", port } }),
      status: 503,
      want: /^HTTP probe failed with statuscode: 503$/,
    },
    {
      name: "httpGet to a closed port says connection refused",
      probe: () => ({ httpGet: { path: "/", port: 1 } }),
      want: /dial tcp 127.0.0.1:1: connect: connection refused/,
    },
    {
      name: "an unknown named port is a failure naming it",
      probe: () => ({ tcpSocket: { port: "grpc" } }),
      want: /couldn't find port grpc/,
    },
    { name: "tcpSocket succeeds when something listens", probe: () => ({ tcpSocket: { port } }), want: true },
    { name: "exec succeeds on exit 0", probe: () => ({ exec: { command: ["true"] } }), want: true },
    {
      name: "exec fails with the command's output",
      probe: () => ({ exec: { command: ["check"] } }),
      exit: 1,
      want: /^not yet$/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      status = c.status ?? 200;
      const r = await runProbe(c.probe(), target(c.exit));
      if (c.want === true) assert.deepEqual(r, { ok: true });
      else assert.match(r.ok ? "" : r.message, c.want);
    });
  }

  it("reports failure only after failureThreshold failures, and success again at once", async () => {
    status = 503;
    const changes: [ProbeKind, boolean][] = [];
    const failures: string[] = [];
    let ticks = 0;
    let stop = () => {};
    await new Promise<void>((done) => {
      const sleep = async () => {
        ticks++;
        if (ticks === 4) status = 200;
        if (ticks === 6) {
          stop();
          done();
        }
      };
      stop = startProbe(
        "Readiness",
        { httpGet: { path: "/", port }, failureThreshold: 3 },
        target(),
        { changed: (k, p) => changes.push([k, p]), failed: (_k, m) => failures.push(m) },
        sleep,
      );
    });
    assert.equal(failures.length, 3);
    assert.deepEqual(changes, [
      ["Readiness", false],
      ["Readiness", true],
    ]);
  });
});
