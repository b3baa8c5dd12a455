// Two operator replicas through the Lease: only the leader writes; and a restart of the
// leading operator at each phase of a run (calibrating, training, a fold lost while no
// operator ran, validating, done) with no duplicated, recreated or lost child.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import {
  addClaim,
  addNode,
  CALIBRATION_RESULT,
  createRun,
  type Env,
  eventually,
  finishPod,
  getJob,
  getRun,
  listObjects,
  loseNode,
  type RunningOperator,
  startEnv,
  startPod,
} from "./operator-harness.js";

let env: Env;
const replicas: RunningOperator[] = [];
before(async () => {
  env = await startEnv();
  await addNode(env.dc, "gpu-a");
  await addNode(env.dc, "gpu-b");
  await addClaim(env.dc);
  replicas.push(await env.startOperator({ identity: "replica-a" }), await env.startOperator({ identity: "replica-b" }));
});
after(async () => env?.stop());

const leader = () => eventually(() => replicas.find((r) => r.operator.isLeader()), "a leader");
/** Writes a replica made, other than its Lease and its Events. */
const writes = (r: RunningOperator) =>
  r.requests.filter((q) => !["get", "list", "watch"].includes(q.verb) && !/leases|events/.test(q.resource));
/** Job name -> uid: a recreated Job has a new uid. */
const jobUids = () => new Map(listObjects(env.dc, "batch/v1", "Job").map((j) => [j.metadata.name!, j.metadata.uid!]));

async function restartLeader(): Promise<void> {
  const current = await leader();
  await current.stop();
  replicas.splice(replicas.indexOf(current), 1);
  replicas.push(await env.startOperator({ identity: `replica-${replicas.length + current.identity}` }));
  await leader();
}

function assertKept(before: Map<string, string>, what: string): void {
  const now = jobUids();
  for (const [name, uid] of before) assert.equal(now.get(name), uid, `${what}: Job ${name} kept (not recreated)`);
}

describe("two replicas and restarts", () => {
  it("lets only the leader act", async () => {
    await createRun(env.dc, "ha", { folds: [0, 1], batchSize: { mode: "Auto" } });
    await eventually(() => getJob(env.dc, "ha-calibrate"), "the calibration Job");
    const lead = await leader();
    const standby = replicas.find((r) => r !== lead)!;
    assert.equal(replicas.filter((r) => r.operator.isLeader()).length, 1);
    assert.ok(writes(lead).length > 0);
    assert.deepEqual(writes(standby), [], "the standby wrote nothing");
    assert.equal(standby.operator.ready(), true, "the standby's caches are warm");
  });

  it("restarted while calibrating: the calibration Job is kept and its result used once", async () => {
    const kept = jobUids();
    await restartLeader();
    const pod = await startPod(env.dc, "ha-calibrate", "gpu-a");
    await finishPod(env.dc, "ha-calibrate", pod, {
      container: "calibrate",
      exitCode: 0,
      message: JSON.stringify(CALIBRATION_RESULT),
    });
    await eventually(() => getJob(env.dc, "ha-fold-0") && getJob(env.dc, "ha-fold-1"), "both training Jobs");
    assertKept(kept, "after the restart while calibrating");
    assert.equal(getRun(env.dc, "ha").status.calibration.source, "Calibrated");
  });

  it("restarted while training, with a node lost while no operator ran: resumes that fold once, keeps the other", async () => {
    const podA = await startPod(env.dc, "ha-fold-0", "gpu-a");
    await startPod(env.dc, "ha-fold-1", "gpu-b");
    await eventually(() => getRun(env.dc, "ha").status?.folds?.every((f: { node?: string }) => f.node), "folds placed");
    const lead = await leader();
    await lead.stop();
    replicas.splice(replicas.indexOf(lead), 1);
    // The standby takes over at once; stop it too so that the node is lost with no operator.
    const other = replicas.pop()!;
    await other.stop();
    await loseNode(env.dc, "gpu-a", [["ha-fold-0", podA]]);
    const kept = new Map([...jobUids()].filter(([n]) => n !== "ha-fold-0"));
    replicas.push(
      await env.startOperator({ identity: "replica-c" }),
      await env.startOperator({ identity: "replica-d" }),
    );
    const job = await eventually(
      () =>
        getJob(env.dc, "ha-fold-0")?.metadata.annotations?.["nnunet-operator.io/attempt"] === "1"
          ? getJob(env.dc, "ha-fold-0")
          : undefined,
      "fold 0's attempt 1",
    );
    assertKept(kept, "after the node loss");
    await restartLeader();
    assert.equal(
      getJob(env.dc, "ha-fold-0")?.metadata.uid,
      job!.metadata.uid,
      "attempt 1 not recreated by the next leader",
    );
    assert.equal(getRun(env.dc, "ha").status.folds.find((f: { fold: string }) => f.fold === "0").attempt, 1);
  });

  it("restarted while validating and after success: every Job exactly once, the run Succeeded", async () => {
    const podA = await startPod(env.dc, "ha-fold-0", "gpu-b");
    await finishPod(env.dc, "ha-fold-0", podA, { exitCode: 0 });
    const podB = listObjects(env.dc, "v1", "Pod").find(
      (p) =>
        p.metadata.labels?.["nnunet-operator.io/fold"] === "1" &&
        p.metadata.labels?.["nnunet-operator.io/role"] === "train",
    )!;
    await finishPod(env.dc, "ha-fold-1", podB.metadata.name!, { exitCode: 0 });
    await eventually(() => getJob(env.dc, "ha-validate-0") && getJob(env.dc, "ha-validate-1"), "validation Jobs");
    const kept = jobUids();
    await restartLeader();
    for (const f of ["0", "1"]) {
      const pod = await startPod(env.dc, `ha-validate-${f}`, "gpu-b");
      await finishPod(env.dc, `ha-validate-${f}`, pod, {
        exitCode: 0,
        message: JSON.stringify({ schemaVersion: 1, checkpoint: "final", meanDice: 0.9, perClassDice: [0.9] }),
      });
    }
    await eventually(() => getRun(env.dc, "ha").status?.phase === "Succeeded", "phase Succeeded");
    assertKept(kept, "after the restart while validating");
    const done = jobUids();
    await restartLeader();
    await new Promise((r) => setTimeout(r, 1000));
    assertKept(done, "after the restart of a finished run");
    assert.deepEqual([...jobUids().keys()].sort(), [
      "ha-calibrate",
      "ha-fold-0",
      "ha-fold-1",
      "ha-validate-0",
      "ha-validate-1",
    ]);
    assert.equal(getRun(env.dc, "ha").status.phase, "Succeeded");
  });
});
