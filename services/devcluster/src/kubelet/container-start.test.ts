import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { KubeObject } from "../api/resources.js";
import { resolveCommand, type ImageMap } from "./image-map.js";
import { runAsNonRootRefusal } from "./container-start.js";

// The kubelet's runAsNonRoot check (verifyRunAsNonRoot) against the image's USER from the
// image map: refused containers wait in CreateContainerConfigError with these words.

const pod = (securityContext?: Record<string, unknown>): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "x-fold-0-abcde", namespace: "team-a", uid: "u-1" },
  spec: { containers: [], ...(securityContext ? { securityContext } : {}) },
});
const WHERE = '(pod: "x-fold-0-abcde_team-a(u-1)", container: nnunet)';

describe("runAsNonRoot against the image's user", () => {
  const cases: Array<{
    name: string;
    pod: KubeObject;
    container?: { runAsNonRoot?: boolean; runAsUser?: number };
    user: string | undefined;
    want: string | undefined;
  }> = [
    {
      name: "a root image under a pod's runAsNonRoot is refused",
      pod: pod({ runAsNonRoot: true }),
      user: "0",
      want: `container has runAsNonRoot and image will run as root ${WHERE}`,
    },
    {
      name: "uid:gid counts by its uid",
      pod: pod(),
      container: { runAsNonRoot: true },
      user: "0:0",
      want: `container has runAsNonRoot and image will run as root ${WHERE}`,
    },
    {
      name: "a user name cannot be checked, so it is refused",
      pod: pod({ runAsNonRoot: true }),
      user: "nnunet",
      want: `container has runAsNonRoot and image has non-numeric user (nnunet), cannot verify user is non-root ${WHERE}`,
    },
    { name: "a numeric non-root user runs", pod: pod({ runAsNonRoot: true }), user: "1000", want: undefined },
    {
      name: "runAsUser of the container wins over the image's user",
      pod: pod({ runAsNonRoot: true }),
      container: { runAsUser: 1000 },
      user: "0",
      want: undefined,
    },
    {
      name: "runAsUser 0 with runAsNonRoot is refused whatever the image",
      pod: pod({ runAsNonRoot: true, runAsUser: 0 }),
      user: undefined,
      want: `container's runAsUser breaks non-root policy ${WHERE}`,
    },
    {
      name: "the container's runAsNonRoot false wins over the pod's true",
      pod: pod({ runAsNonRoot: true }),
      container: { runAsNonRoot: false },
      user: "0",
      want: undefined,
    },
    { name: "without runAsNonRoot a root image runs", pod: pod(), user: "0", want: undefined },
    {
      name: "an image map entry without a user runs (our images are non-root)",
      pod: pod({ runAsNonRoot: true }),
      user: undefined,
      want: undefined,
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const container = { name: "nnunet", ...(c.container ? { securityContext: c.container } : {}) };
      assert.equal(runAsNonRootRefusal(c.pod, container, c.user), c.want);
    });

  it("the image map hands the entry's user to the container's start", () => {
    const map: ImageMap = {
      images: [{ image: "*nnunet-root", user: "0", commands: { nnUNetv2_train: { run: ["node", "fake.js"] } } }],
    };
    const r = resolveCommand(map, "registry.example/nnunet-root:2", ["nnUNetv2_train"], [], {
      repo: "/repo",
      node: "node",
      tsx: "tsx",
      fakeNnunet: "fake.js",
    });
    assert.equal(r.kind === "ok" ? r.user : r.kind, "0");
  });

  it("marks the files the image ships as local, so a checkout under a mounted path (a clone in /tmp) is not rewritten", () => {
    const map: ImageMap = {
      images: [
        {
          image: "*operator",
          entrypoint: ["node", "/app/main.js"],
          files: { "/app/main.js": "${repo}/services/operator/src/main.ts" },
          commands: { node: { run: ["${node}"] } },
        },
      ],
    };
    const r = resolveCommand(map, "operator:1", undefined, ["--data", "/tmp/work"], {
      repo: "/tmp/clone",
      node: "node",
      tsx: "tsx",
      fakeNnunet: "fake.js",
    });
    assert.deepEqual(r, {
      kind: "ok",
      argv: ["node", "/tmp/clone/services/operator/src/main.ts", "--data", "/tmp/work"],
      prefix: 1,
      local: [1],
      env: {},
    });
  });
});
