import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { startDevCluster, type DevCluster } from "../server.js";
import { assertNoUnexpectedFailures } from "./controller-failures.js";
import { runNodeCommand } from "../nodes/node-cli.js";
import {
  condition,
  containerState,
  events,
  job,
  makeJob,
  makePod,
  pod,
  podsOf,
  sh,
  statusOf,
  TOLERATE_GPU,
  waitFor,
} from "./sim-test-support.js";

// The process kubelet with the Job controller: native sidecars, termination messages,
// logs (HTTP and kubectl), volumes and env, graceful deletion, image pull errors, node loss.

const run = promisify(execFile);
const KUBECTL = "/usr/bin/kubectl";
const finished = (name: string, type: "Complete" | "Failed") => (dc: DevCluster) =>
  condition(job(dc.cluster, name), type)?.status === "True";

describe("kubelet and Job controller on simulated nodes", () => {
  let dc: DevCluster;
  const kubectl = (...args: string[]) =>
    run(KUBECTL, ["--kubeconfig", dc.kubeconfigPath, ...args], { timeout: 20_000 });
  before(async () => {
    dc = await startDevCluster({ nodes: "2xL40S:2,1xcpu" });
  });
  after(async () => {
    await dc.stop();
    assertNoUnexpectedFailures(dc);
  });

  it("runs a pod with a native sidecar: logs, the sidecar stopped after the main container, the termination message in status", async () => {
    const c = dc.cluster;
    await c.create(
      makeJob("sidecar", {
        initContainers: [
          sh("side", "echo side up; trap 'echo side stopping; exit 0' TERM; while true; do sleep 0.05; done", {
            restartPolicy: "Always",
          }),
        ],
        containers: [sh("main", "sleep 0.3; echo main working; echo all-good > /dev/termination-log")],
      }),
    );
    await waitFor("the job complete", () => finished("sidecar", "Complete")(dc));
    const [p] = podsOf(c, "sidecar");
    assert.equal(statusOf(p).phase, "Succeeded");
    assert.deepEqual(containerState(p, "main"), {
      terminated: {
        ...(containerState(p, "main")!["terminated"] as object),
        exitCode: 0,
        reason: "Completed",
        message: "all-good\n",
      },
    });
    assert.equal((containerState(p, "side")!["terminated"] as { exitCode: number }).exitCode, 0);
    const name = p!.metadata.name!;
    assert.equal((await kubectl("logs", name, "-c", "main")).stdout, "main working\n");
    assert.equal((await kubectl("logs", name, "-c", "side")).stdout, "side up\nside stopping\n");
    const st = statusOf(job(c, "sidecar"));
    assert.equal(st["succeeded"], 1);
    assert.equal(p!.metadata.ownerReferences![0]!.kind, "Job");
    assert.match(name, /^sidecar-[a-z0-9]{5}$/);
  });

  it("follows a running container's log with kubectl logs -f until it exits", async () => {
    await dc.cluster.create(
      makePod("chatty", { containers: [sh("talk", "for i in 1 2 3 4 5; do echo line $i; sleep 0.1; done")] }),
    );
    await waitFor("running", () => containerState(pod(dc.cluster, "chatty"), "talk")?.["running"]);
    const { stdout } = await kubectl("logs", "-f", "chatty");
    assert.equal(stdout, "line 1\nline 2\nline 3\nline 4\nline 5\n");
  });

  it("falls back to the log tail for a failed container's message and fails the job past its backoff limit", async () => {
    await dc.cluster.create(
      makeJob(
        "crash",
        {
          containers: [
            sh("main", "echo starting; echo 'torch.OutOfMemoryError: CUDA out of memory.' >&2; exit 3", {
              terminationMessagePolicy: "FallbackToLogsOnError",
            }),
          ],
        },
        { backoffLimit: 1 },
      ),
    );
    await waitFor("the job failed", () => finished("crash", "Failed")(dc));
    const pods = podsOf(dc.cluster, "crash");
    assert.equal(pods.length, 2, "one retry");
    const t = containerState(pods[0], "main")!["terminated"] as { exitCode: number; reason: string; message: string };
    assert.deepEqual(
      [t.exitCode, t.reason, t.message],
      [3, "Error", "starting\ntorch.OutOfMemoryError: CUDA out of memory.\n"],
    );
    assert.equal(condition(job(dc.cluster, "crash"), "Failed")!.reason, "BackoffLimitExceeded");
    assert.equal(statusOf(job(dc.cluster, "crash"))["failed"], 2);
  });

  it("fails a job at once on an exit code its podFailurePolicy names", async () => {
    const policy = {
      rules: [{ action: "FailJob", onExitCodes: { containerName: "main", operator: "In", values: [2, 3] } }],
    };
    await dc.cluster.create(
      makeJob("badinput", { containers: [sh("main", "exit 2")] }, { backoffLimit: 4, podFailurePolicy: policy }),
    );
    await waitFor("the job failed", () => finished("badinput", "Failed")(dc));
    assert.equal(podsOf(dc.cluster, "badinput").length, 1);
    assert.match(
      condition(job(dc.cluster, "badinput"), "Failed")!.message!,
      /Container main for pod default\/badinput-\w+ failed with exit code 2 matching FailJob rule at index 0/,
    );
  });

  it("mounts configMap, secret, emptyDir and hostPath volumes and expands $(VAR) and the downward API", async () => {
    const c = dc.cluster;
    await c.create({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "cfg", namespace: "default" },
      data: { "settings.txt": "alpha" },
    });
    await c.create({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "sec", namespace: "default" },
      data: { token: Buffer.from("s3cret").toString("base64") },
    });
    const script =
      'echo "$(cat /etc/cfg/settings.txt) $(cat /etc/sec/token) $GREETING $POD" > /scratch/out; cat /scratch/out > /dev/termination-log; touch /host/marker';
    await c.create(
      makePod("volumes", {
        containers: [
          sh("main", script, {
            env: [
              { name: "NAME", value: "world" },
              { name: "GREETING", value: "hello-$(NAME)" },
              { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
            ],
            volumeMounts: [
              { name: "cfg", mountPath: "/etc/cfg" },
              { name: "sec", mountPath: "/etc/sec" },
              { name: "scratch", mountPath: "/scratch" },
              { name: "host", mountPath: "/host" },
            ],
          }),
        ],
        volumes: [
          { name: "cfg", configMap: { name: "cfg" } },
          { name: "sec", secret: { secretName: "sec" } },
          { name: "scratch", emptyDir: { medium: "Memory" } },
          { name: "host", hostPath: { path: "/var/devcluster-test" } },
        ],
      }),
    );
    await waitFor("succeeded", () => statusOf(pod(c, "volumes")).phase === "Succeeded");
    assert.equal(
      (containerState(pod(c, "volumes"), "main")!["terminated"] as { message: string }).message,
      "alpha s3cret hello-world volumes\n",
    );
    assert.ok(existsSync(`${dc.simulation!.dataRoot}/hostpath/var/devcluster-test/marker`));
  });

  it("holds a container whose env names a missing ConfigMap in CreateContainerConfigError and starts it once the ConfigMap exists", async () => {
    const c = dc.cluster;
    await c.create(
      makePod("needs-config", {
        containers: [
          sh("main", 'echo "$LEVEL" > /dev/termination-log', {
            env: [{ name: "LEVEL", valueFrom: { configMapKeyRef: { name: "later", key: "level" } } }],
          }),
        ],
      }),
    );
    const waiting = await waitFor(
      "CreateContainerConfigError",
      () =>
        (containerState(pod(c, "needs-config"), "main")?.["waiting"] as { reason: string; message: string } | undefined)
          ?.reason === "CreateContainerConfigError" &&
        (containerState(pod(c, "needs-config"), "main")!["waiting"] as { message: string }),
    );
    assert.equal(waiting.message, 'configmap "later" not found');
    await c.create({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "later", namespace: "default" },
      data: { level: "debug" },
    });
    await waitFor("succeeded", () => statusOf(pod(c, "needs-config")).phase === "Succeeded");
    assert.equal(
      (containerState(pod(c, "needs-config"), "main")!["terminated"] as { message: string }).message,
      "debug\n",
    );
  });

  it("ends a graceful deletion with SIGKILL when SIGTERM is ignored, then removes the pod", async () => {
    const c = dc.cluster;
    await c.create(
      makePod("stubborn", {
        terminationGracePeriodSeconds: 1,
        containers: [sh("main", "trap '' TERM; while true; do sleep 0.05; done")],
      }),
    );
    await waitFor("running", () => containerState(pod(c, "stubborn"), "main")?.["running"]);
    const started = Date.now();
    await c.delete(c.resource("", "v1", "pods"), "default", "stubborn");
    assert.ok(pod(c, "stubborn")?.metadata.deletionTimestamp, "still there while terminating");
    await waitFor("the pod gone", () => pod(c, "stubborn") === undefined, 8000);
    assert.ok(Date.now() - started >= 900, "waited for the grace period");
  });

  it("finishes a foreground deletion of a job once its running pod has stopped", async () => {
    const c = dc.cluster;
    await c.create(makeJob("replaced", { containers: [sh("main", "while true; do sleep 0.05; done")] }));
    const [p] = await waitFor(
      "a running pod",
      () =>
        podsOf(c, "replaced").filter((x) => containerState(x, "main")?.["running"]).length === 1 &&
        podsOf(c, "replaced"),
    );
    await c.delete(c.resource("batch", "v1", "jobs"), "default", "replaced", { propagationPolicy: "Foreground" });
    assert.ok(job(c, "replaced")?.metadata.deletionTimestamp, "the job waits for its pod");
    await waitFor(
      "the job and its pod gone",
      () => job(c, "replaced") === undefined && pod(c, p!.metadata.name!) === undefined,
    );
    assert.ok(
      events(c, p!.metadata.name!).some((e) => e.reason === "Killing" && e.message === "Stopping container main"),
    );
  });

  it("waits in ErrImagePull and then ImagePullBackOff for an image the map does not know, with events", async () => {
    const c = dc.cluster;
    await c.create(
      makePod("unknown-image", { containers: [{ name: "main", image: "registry.example.com/nothing:1.0" }] }),
    );
    const waiting = await waitFor(
      "ImagePullBackOff",
      () =>
        (containerState(pod(c, "unknown-image"), "main")?.["waiting"] as { reason: string } | undefined)?.reason ===
          "ImagePullBackOff" && containerState(pod(c, "unknown-image"), "main")!["waiting"],
    );
    assert.match(
      (waiting as { message: string }).message,
      /Back-off pulling image "registry.example.com\/nothing:1.0"/,
    );
    assert.equal(statusOf(pod(c, "unknown-image")).phase, "Pending");
    const reasons = events(c, "unknown-image").map((e) => `${e.reason}: ${e.message}`);
    assert.ok(reasons.some((r) => r.startsWith('Failed: Failed to pull image "registry.example.com/nothing:1.0"')));
    assert.ok(reasons.some((r) => r.startsWith("BackOff: Back-off pulling image")));
  });

  it("suspends a job (pods deleted gracefully, none replaced) and resumes it", async () => {
    const c = dc.cluster;
    const jobs = c.resource("batch", "v1", "jobs");
    await c.create(makeJob("pausable", { containers: [sh("main", "while true; do sleep 0.05; done")] }));
    const [first] = await waitFor(
      "a running pod",
      () =>
        podsOf(c, "pausable").filter((p) => containerState(p, "main")?.["running"]).length === 1 &&
        podsOf(c, "pausable"),
    );
    await c.registry.patch(jobs, "default", "pausable", "merge", { spec: { suspend: true } });
    await waitFor("JobSuspended", () => condition(job(c, "pausable"), "Suspended")?.reason === "JobSuspended");
    await waitFor("the pod gone", () => pod(c, first!.metadata.name!) === undefined);
    assert.equal(podsOf(c, "pausable").length, 0);
    await c.registry.patch(jobs, "default", "pausable", "merge", { spec: { suspend: false } });
    await waitFor("a new pod", () => podsOf(c, "pausable").length === 1);
    assert.equal(condition(job(c, "pausable"), "Suspended")!.reason, "JobResumed");
  });

  it("fails a job past activeDeadlineSeconds and deletes a finished job after ttlSecondsAfterFinished", async () => {
    const c = dc.cluster;
    await c.create(makeJob("slow", { containers: [sh("main", "sleep 30")] }, { activeDeadlineSeconds: 1 }));
    // Failed comes once the pod is gone (SIGTERM to `sleep 30`). 20 s: CI's first run of the
    // unit files (cold tsx cache, two files at once) once took more than 8 s here; a pod the
    // kubelet failed to kill would still take 30 s and fail this.
    await waitFor("DeadlineExceeded", () => condition(job(c, "slow"), "Failed")?.reason === "DeadlineExceeded", 20_000);
    await c.create(makeJob("shortlived", { containers: [sh("main", "true")] }, { ttlSecondsAfterFinished: 0 }));
    await waitFor("the job deleted", () => job(c, "shortlived") === undefined);
  });

  it("marks pods of a failed node Failed with DisruptionTarget, kills them, and the job replaces an ignored disruption elsewhere", async () => {
    const c = dc.cluster;
    const spec = {
      tolerations: TOLERATE_GPU,
      nodeSelector: { "nvidia.com/gpu.product": "NVIDIA-L40S" },
      containers: [sh("main", "sleep 30", { resources: { limits: { "nvidia.com/gpu": "2" } } })],
    };
    await c.create(
      makeJob("train", spec, {
        podFailurePolicy: {
          rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }],
        },
      }),
    );
    const [first] = await waitFor(
      "running",
      () => podsOf(c, "train").filter((p) => containerState(p, "main")?.["running"]).length === 1 && podsOf(c, "train"),
    );
    const nodeName = (first!["spec"] as { nodeName: string }).nodeName;
    const pid = Number(
      /\d+$/.exec(
        (statusOf(first) as { containerStatuses: { containerID: string }[] }).containerStatuses[0]!.containerID,
      )![0],
    );
    await runNodeCommand("fail", nodeName, dc.kubeconfigPath);
    const lost = await waitFor(
      "the pod failed",
      () => statusOf(pod(c, first!.metadata.name!)).phase === "Failed" && pod(c, first!.metadata.name!),
    );
    assert.equal(condition(lost, "DisruptionTarget")!.reason, "DeletionByTaintManager");
    await waitFor("the process killed", () => !alive(pid));
    const replacement = await waitFor("a replacement elsewhere", () =>
      podsOf(c, "train").find(
        (p) => p.metadata.name !== first!.metadata.name && (p["spec"] as { nodeName?: string }).nodeName,
      ),
    );
    assert.notEqual((replacement["spec"] as { nodeName: string }).nodeName, nodeName);
    assert.equal(statusOf(job(c, "train"))["failed"], undefined, "an ignored failure is not counted");
    await runNodeCommand("recover", nodeName, dc.kubeconfigPath);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
