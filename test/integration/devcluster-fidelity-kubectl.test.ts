import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { startClientHarness, type ClientHarness } from "./support/clients.js";

// kubectl commands our other tests never run, each a departure from kube-apiserver found
// by trying them (issue 16); every case names the behaviour a real cluster shows.

describe("kubectl commands our other tests do not use", () => {
  let h: ClientHarness;
  before(async () => {
    h = await startClientHarness({ rbac: true });
  });
  after(() => h.dc.stop());
  const ok = async (...args: string[]) => {
    const r = await h.kubectl(...args);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const json = async (...args: string[]) => JSON.parse(await ok(...args, "-o", "json")) as Record<string, any>;

  describe("protobuf bodies of kubectl's typed clients", () => {
    it("creates a Job with `kubectl create job` (batch/v1 protobuf)", async () => {
      assert.match(await ok("create", "job", "pb-job", "--image=busybox:1.36", "--", "sleep", "1"), /job.batch\/pb-job created/);
      const job = await json("get", "job", "pb-job");
      assert.deepEqual(job["spec"].template.spec.containers[0].command, ["sleep", "1"]);
    });
    it("creates a PriorityClass with `kubectl create priorityclass` (int32 value, preemption policy)", async () => {
      await ok("create", "priorityclass", "pb-high", "--value=1000", "--description=training", "--preemption-policy=Never");
      const pc = await json("get", "priorityclass", "pb-high");
      assert.deepEqual([pc["value"], pc["description"], pc["preemptionPolicy"]], [1000, "training", "Never"]);
    });
    it("creates a Secret whose values are bytes (base64 in JSON)", async () => {
      await ok("create", "secret", "generic", "pb-secret", "--from-literal=token=s3cr3t");
      assert.equal(Buffer.from((await json("get", "secret", "pb-secret"))["data"].token, "base64").toString(), "s3cr3t");
    });
  });
});
