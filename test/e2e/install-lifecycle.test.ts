// The install lifecycle with the real helm against the devcluster, as a user runs it:
// install --wait, `helm test`, a TrainingRun that converges while `helm upgrade` with a
// changed value rolls the operator Deployment (the leader hands over, no child is made
// twice, the run is not lost), `helm rollback`, `helm uninstall` (everything it installed
// goes; the CRD stays, as Helm leaves crds/ alone), and `helm install` again.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { readFileSync, writeFileSync } from "node:fs";
import { TrainingRun } from "@nnunet-operator/api";
import type { KubeObject } from "@nnunet-operator/devcluster";
import { sleep } from "../../scripts/demo/processes.js";
import {
  CHART,
  DEVCLUSTER_VALUES,
  RELEASE,
  removeWorkDir,
  repoRoot,
  type Stack,
  startStack,
  SYSTEM_NS,
} from "../../scripts/demo/stack.js";

const NS = "default";
const RUN = "lifecycle";
const LEADER_LEASE = "nnunet-operator";

describe("helm install -> upgrade -> rollback -> uninstall -> install", { timeout: 900_000 }, () => {
  let stack: Stack;
  const objects = (storage: string, ns?: string) => [...stack.dc.cluster.store.scan(storage, ns)].map((e) => e.object);
  const run = (): TrainingRun | undefined => {
    const o = stack.dc.cluster.store.get("trainingruns.nnunet-operator.io", NS, RUN);
    return o ? TrainingRun.parse(o) : undefined;
  };
  const leader = () =>
    (
      (
        stack.dc.cluster.store.get("leases.coordination.k8s.io", SYSTEM_NS, LEADER_LEASE)?.["spec"] as
          | { holderIdentity?: string }
          | undefined
      )?.holderIdentity ?? ""
    ).split("_")[0];
  const operatorPods = () =>
    stack
      .pods("operator")
      .map((p) => p.metadata.name!)
      .sort();
  async function until<T>(what: string, probe: () => T | undefined | false, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = probe();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${stack.diagnostics()}`);
      await sleep(250);
    }
  }
  // Every Job the operator made for the run, by name, with the uid it was created with.
  const childUids = new Map<string, Set<string>>();
  const recordChildren = () => {
    for (const j of objects("jobs.batch", NS))
      if (j.metadata.labels?.["nnunet-operator.io/run"] === RUN)
        (childUids.get(j.metadata.name!) ?? childUids.set(j.metadata.name!, new Set()).get(j.metadata.name!)!).add(
          j.metadata.uid!,
        );
  };
  let watching: ReturnType<typeof setInterval> | undefined;

  before(async () => {
    // Slow enough that the run is still training while the upgrade rolls the operator.
    stack = await startStack({ operatorReplicas: 2, timeScale: 200 });
    watching = setInterval(recordChildren, 100);
  });
  after(async () => {
    if (watching) clearInterval(watching);
    try {
      await stack?.stop();
    } finally {
      if (stack) removeWorkDir(stack.workDir);
    }
  });

  it("installs with --wait: every pod of the chart Ready, and `helm test` passes (webhook through its Service, both /readyz)", async () => {
    for (const c of ["operator", "early-stop", "nats"])
      for (const p of stack.pods(c))
        assert.ok(
          (p["status"] as { conditions?: { type: string; status: string }[] }).conditions?.some(
            (x) => x.type === "Ready" && x.status === "True",
          ),
          p.metadata.name,
        );
    // The hook pod is deleted once it succeeds (hook-succeeded), so its logs are not asked for.
    const out = await stack.helm(["test", RELEASE, "--namespace", SYSTEM_NS, "--timeout", "120s"]);
    assert.match(out, /TEST SUITE:\s+nnunet-operator-test[\s\S]*Phase:\s+Succeeded/);
  });

  it("upgrades with a changed value while a run trains: the operator Deployment rolls, the leader hands over, the run converges with no child made twice; the hook mints a missing service credential and keeps the rest", async () => {
    const sample = parse(readFileSync(join(repoRoot, "deploy/samples/trainingrun.yaml"), "utf8")) as KubeObject & {
      spec: { folds: number[]; schedule: Record<string, unknown> };
    };
    // Two folds of 100 epochs at the plans' batch size (about a minute each at this time scale):
    // long enough to train through the upgrade, short enough for CI.
    const manifest = {
      ...sample,
      metadata: { name: RUN, namespace: NS },
      spec: {
        ...sample.spec,
        folds: [0, 1],
        batchSize: { mode: "Fixed", value: 2 },
        schedule: { ...sample.spec.schedule, maxEpochs: 100 },
      },
    };
    const file = join(stack.workDir, `${RUN}.yaml`);
    writeFileSync(file, stringify(manifest));
    await stack.kubectl(["apply", "-f", file]);
    await until("a fold training", () => (run()?.status?.folds ?? []).some((f) => f.phase === "Training"), 120_000);
    // An auth Secret from a version without the export user: the upgrade's hook mints it,
    // with the installation's keys, and leaves every other key as it was.
    const authData = () =>
      (stack.dc.cluster.store.get("secrets", SYSTEM_NS, `${RELEASE}-nats-auth`)?.["data"] ?? {}) as Record<
        string,
        string
      >;
    await stack.kubectl([
      "patch",
      "secret",
      `${RELEASE}-nats-auth`,
      "--namespace",
      SYSTEM_NS,
      "--type=json",
      "--patch",
      '[{"op":"remove","path":"/data/export.creds"}]',
    ]);
    const authBefore = authData();
    assert.equal(authBefore["export.creds"], undefined);
    const podsBefore = operatorPods();
    const leaderBefore = leader();
    assert.ok(podsBefore.includes(leaderBefore!), `leader ${leaderBefore} among ${podsBefore}`);
    await stack.helm([
      "upgrade",
      RELEASE,
      CHART,
      "--namespace",
      SYSTEM_NS,
      "--values",
      DEVCLUSTER_VALUES,
      "--reuse-values",
      "--set",
      "operator.logLevel=debug",
      "--wait",
      "--timeout",
      "240s",
    ]);
    const { "export.creds": minted, ...kept } = authData();
    assert.deepEqual(kept, authBefore, "the hook changed keys it had no reason to");
    assert.match(Buffer.from(minted ?? "", "base64").toString(), /BEGIN NATS USER JWT/);
    const podsAfter = operatorPods();
    assert.equal(podsAfter.length, 2);
    assert.deepEqual(
      podsAfter.filter((p) => podsBefore.includes(p)),
      [],
      "every operator pod was replaced",
    );
    const rs = objects("replicasets.apps", SYSTEM_NS).filter(
      (r) => r.metadata.name!.startsWith(`${RELEASE}-`) && r.metadata.ownerReferences?.[0]?.name === RELEASE,
    );
    assert.equal(rs.length, 2, "the old and the new ReplicaSet");
    await until("a new leader among the new pods", () => podsAfter.includes(leader()!), 60_000);
    assert.notEqual(run()?.status?.phase, "Succeeded", "the upgrade finished while the run still trained");
    const done = await until(
      "the run to finish",
      () => (["Succeeded", "Failed"].includes(run()?.status?.phase ?? "") ? run() : undefined),
      400_000,
    );
    assert.equal(done?.status?.phase, "Succeeded", JSON.stringify(done?.status?.conditions));
    recordChildren();
    const twice = [...childUids].filter(([, uids]) => uids.size > 1).map(([name]) => name);
    assert.deepEqual(twice, [], "a child Job was deleted and made again");
    assert.ok(childUids.has(`${RUN}-fold-0`) && childUids.has(`${RUN}-fold-1`), [...childUids.keys()].join(","));
  });

  it("rolls back to the first revision: the operator pods roll again with the first revision's settings", async () => {
    const before = operatorPods();
    await stack.helm(["rollback", RELEASE, "1", "--namespace", SYSTEM_NS, "--wait", "--timeout", "240s"]);
    const history = await stack.helm(["history", RELEASE, "--namespace", SYSTEM_NS, "--output", "json"]);
    assert.deepEqual(
      (JSON.parse(history) as { revision: number; status: string }[]).map((h) => [h.revision, h.status]),
      [
        [1, "superseded"],
        [2, "superseded"],
        [3, "deployed"],
      ],
    );
    assert.deepEqual(
      operatorPods().filter((p) => before.includes(p)),
      [],
    );
    const deploy = stack.dc.cluster.store.get("deployments.apps", SYSTEM_NS, RELEASE)!;
    const env = (
      deploy["spec"] as { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } }
    ).template.spec.containers[0]!.env;
    assert.equal(env.find((e) => e.name === "LOG_LEVEL")?.value, "info");
  });

  it("uninstalls everything it installed (the CRD and the TrainingRuns stay; the StatefulSet's claim stays, as on any cluster)", async () => {
    await stack.helm(["uninstall", RELEASE, "--namespace", SYSTEM_NS, "--wait", "--timeout", "120s"]);
    const left = (storage: string, ns?: string) =>
      objects(storage, ns).filter(
        (o) => o.metadata.labels?.["app.kubernetes.io/instance"] === RELEASE || o.metadata.name!.startsWith(RELEASE),
      );
    // The NATS auth Secret, made by the pre-install hook Job and not by helm, stays (the chart's README says so):
    // the credentials of folds still training were signed with its key, so an install again must find it.
    const kept = (storage: string) => (o: KubeObject) =>
      storage !== "secrets" || o.metadata.name !== `${RELEASE}-nats-auth`;
    for (const storage of [
      "deployments.apps",
      "replicasets.apps",
      "statefulsets.apps",
      "pods",
      "services",
      "configmaps",
      "secrets",
      "serviceaccounts",
      "roles.rbac.authorization.k8s.io",
      "rolebindings.rbac.authorization.k8s.io",
      "poddisruptionbudgets.policy",
      "networkpolicies.networking.k8s.io",
      "endpointslices.discovery.k8s.io",
    ]) {
      await until(
        `no ${storage} of the release`,
        () => left(storage, SYSTEM_NS).filter(kept(storage)).length === 0,
        60_000,
      ).catch(() =>
        assert.deepEqual(
          left(storage, SYSTEM_NS)
            .filter(kept(storage))
            .map((o) => o.metadata.name),
          [],
          storage,
        ),
      );
    }
    for (const storage of [
      "clusterroles.rbac.authorization.k8s.io",
      "clusterrolebindings.rbac.authorization.k8s.io",
      "validatingwebhookconfigurations.admissionregistration.k8s.io",
    ])
      assert.deepEqual(
        left(storage).map((o) => o.metadata.name),
        [],
        storage,
      );
    assert.ok(
      stack.dc.cluster.store.get(
        "customresourcedefinitions.apiextensions.k8s.io",
        undefined,
        "trainingruns.nnunet-operator.io",
      ),
      "the CRD stays",
    );
    assert.equal(run()?.status?.phase, "Succeeded", "the TrainingRun stays");
    assert.deepEqual(
      objects("persistentvolumeclaims", SYSTEM_NS).map((c) => c.metadata.name),
      [`data-${RELEASE}-nats-0`],
    );
    assert.deepEqual(
      left("secrets", SYSTEM_NS).map((o) => o.metadata.name),
      [`${RELEASE}-nats-auth`],
      "the NATS auth Secret stays",
    );
    assert.equal((await stack.helm(["list", "--all", "--namespace", SYSTEM_NS, "--short"])).trim(), "");
  });

  it("installs again", async () => {
    await stack.helm([
      "install",
      RELEASE,
      CHART,
      "--namespace",
      SYSTEM_NS,
      "--values",
      DEVCLUSTER_VALUES,
      "--wait",
      "--timeout",
      "240s",
    ]);
    assert.equal(stack.pods("operator").length, 2);
    await stack.helm(["test", RELEASE, "--namespace", SYSTEM_NS, "--timeout", "120s"]);
  });
});
