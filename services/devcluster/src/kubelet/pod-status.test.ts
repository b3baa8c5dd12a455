import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { buildPodStatus, podPhase, type ContainerView, type PodView } from "./pod-status.js";

// Pod phase and readiness as the kubelet reports them, from the containers' states.

const c = (name: string, role: ContainerView["role"], state: ContainerView["state"]): ContainerView => ({
  name,
  image: "img",
  role,
  state,
  lastState: undefined,
  restartCount: 0,
  pid: 1,
});
const running = { running: { startedAt: "t" } };
const exited = (exitCode: number) => ({
  terminated: { exitCode, reason: exitCode === 0 ? "Completed" : "Error", finishedAt: "t" },
});
const waiting = { waiting: { reason: "PodInitializing" } };
const view = (containers: ContainerView[], o: Partial<PodView> = {}): PodView => ({
  containers,
  volumesReady: true,
  initialized: true,
  finished: false,
  startTime: "t",
  ...o,
});

describe("pod phase", () => {
  const cases: [string, PodView, string][] = [
    [
      "Pending while init containers run",
      view([c("init", "init", running), c("main", "main", waiting)], { initialized: false }),
      "Pending",
    ],
    [
      "Running once a main container runs, a sidecar beside it",
      view([c("side", "sidecar", running), c("main", "main", running)]),
      "Running",
    ],
    [
      "Succeeded when every main container exited 0, whatever the sidecar's code",
      view([c("side", "sidecar", exited(143)), c("main", "main", exited(0))], { finished: true }),
      "Succeeded",
    ],
    [
      "Failed when a main container failed",
      view([c("a", "main", exited(0)), c("b", "main", exited(1))], { finished: true }),
      "Failed",
    ],
    [
      "Failed when an init container failed",
      view([c("init", "init", exited(2)), c("main", "main", waiting)], { finished: true, initialized: false }),
      "Failed",
    ],
  ];
  for (const [name, v, want] of cases) it(name, () => assert.equal(podPhase(v), want));
});

describe("pod conditions", () => {
  it("is Ready when the main containers and sidecars run, and keeps PodScheduled and its transition times", () => {
    const previous = [
      { type: "PodScheduled", status: "True", lastTransitionTime: "t0" },
      { type: "Ready", status: "True", lastTransitionTime: "t1" },
    ];
    const st = buildPodStatus(view([c("side", "sidecar", running), c("main", "main", running)]), previous, "t2") as {
      conditions: { type: string; status: string; lastTransitionTime: string }[];
      initContainerStatuses: { ready: boolean }[];
    };
    const byType = Object.fromEntries(st.conditions.map((x) => [x.type, x]));
    assert.equal(byType["PodScheduled"]!.status, "True");
    assert.deepEqual([byType["Ready"]!.status, byType["Ready"]!.lastTransitionTime], ["True", "t1"]);
    assert.equal(byType["ContainersReady"]!.status, "True");
    assert.equal(st.initContainerStatuses[0]!.ready, true);
  });

  it("says PodCompleted once finished and names unready containers before", () => {
    const done = buildPodStatus(view([c("main", "main", exited(0))], { finished: true }), [], "t") as {
      conditions: { type: string; reason?: string }[];
    };
    assert.equal(done.conditions.find((x) => x.type === "Ready")!.reason, "PodCompleted");
    const starting = buildPodStatus(view([c("a", "main", running), c("b", "main", waiting)]), [], "t") as {
      conditions: { type: string; message?: string }[];
    };
    assert.equal(starting.conditions.find((x) => x.type === "Ready")!.message, "containers with unready status: [b]");
  });
});
