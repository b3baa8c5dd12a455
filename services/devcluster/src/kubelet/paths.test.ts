import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { findImage, imageRepository, resolveCommand, type ImageMap } from "./image-map.js";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeObject } from "../api/resources.js";
import { expandVars, type Lookups, prepareVolumes, type ProjectedSource, rewritePaths } from "./paths.js";

const table = [
  { containerPath: "/nnunet/results", hostPath: "/data/pvc/ns/claim/nnUNet_results" },
  { containerPath: "/nnunet", hostPath: "/data/pvc/ns/claim" },
  { containerPath: "/dev/termination-log", hostPath: "/data/pods/u/termination/main" },
].sort((a, b) => b.containerPath.length - a.containerPath.length);

describe("container paths on the host", () => {
  const cases: [string, string, string][] = [
    ["rewrites a mount path itself", "/nnunet/results", "/data/pvc/ns/claim/nnUNet_results"],
    [
      "rewrites a path below a mount",
      "/nnunet/results/Dataset003_Liver/fold_0",
      "/data/pvc/ns/claim/nnUNet_results/Dataset003_Liver/fold_0",
    ],
    ["rewrites by the longest matching mount", "/nnunet/raw", "/data/pvc/ns/claim/raw"],
    ["rewrites a flag value", "--out=/nnunet/results/x", "--out=/data/pvc/ns/claim/nnUNet_results/x"],
    [
      "rewrites paths inside a shell script",
      "echo ok > /dev/termination-log; cat /nnunet/raw/a",
      "echo ok > /data/pods/u/termination/main; cat /data/pvc/ns/claim/raw/a",
    ],
    ["leaves alone a longer name that starts alike", "/nnunet-other/x /nnunetx", "/nnunet-other/x /nnunetx"],
    ["leaves alone a mount path inside another path", "/opt/nnunet/results", "/opt/nnunet/results"],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.equal(rewritePaths(input, table), want));

  const vars: [string, string, string][] = [
    ["expands a known variable", "$(A)-x", "1-x"],
    ["keeps an unknown variable as written", "$(B)", "$(B)"],
    ["reads $$ as an escaped $", "$$(A)", "$(A)"],
    ["leaves shell variables to the shell", "$A ${A}", "$A ${A}"],
  ];
  for (const [name, input, want] of vars) it(name, () => assert.equal(expandVars(input, { A: "1" }), want));
});

describe("image map", () => {
  const map: ImageMap = {
    images: [
      {
        image: "*nnunet-operator/nnunet",
        commands: {
          nnUNetv2_train: { run: ["node", "fake.ts"] },
          python3: { run: ["/usr/bin/python3"], env: { PYTHONPATH: "${repo}/calibrator" } },
        },
      },
      {
        image: "*nnunet-operator/reporter",
        entrypoint: ["reporter"],
        commands: { reporter: { run: ["node", "reporter.ts"] } },
      },
    ],
  };
  const p = { repo: "/repo", node: "node", tsx: "tsx", fakeNnunet: "/bin/fake.mjs" };
  it("strips registry-free tags and digests", () => {
    assert.equal(
      imageRepository("ghcr.io/x/nnunet-operator/nnunet:2.5@sha256:abc"),
      "ghcr.io/x/nnunet-operator/nnunet",
    );
    assert.equal(imageRepository("localhost:5000/img"), "localhost:5000/img");
    assert.ok(findImage(map, "ghcr.io/acme/nnunet-operator/nnunet:1.0"));
  });
  it("maps the training command and keeps the container's arguments", () => {
    assert.deepEqual(
      resolveCommand(
        map,
        "nnunet-operator/nnunet:latest",
        ["nnUNetv2_train"],
        ["Dataset003_Liver", "3d_fullres", "0"],
        p,
      ),
      { kind: "ok", argv: ["node", "fake.ts", "Dataset003_Liver", "3d_fullres", "0"], prefix: 2, env: {} },
    );
    assert.deepEqual(
      resolveCommand(map, "nnunet-operator/nnunet", ["python3", "-m", "nnunet_calibrate"], ["--dataset", "D"], p),
      {
        kind: "ok",
        argv: ["/usr/bin/python3", "-m", "nnunet_calibrate", "--dataset", "D"],
        prefix: 1,
        env: { PYTHONPATH: "/repo/calibrator" },
      },
    );
  });
  it("uses the image's entrypoint when the container has no command", () => {
    const r = resolveCommand(map, "nnunet-operator/reporter:latest", undefined, undefined, p);
    assert.deepEqual(r, { kind: "ok", argv: ["node", "reporter.ts"], prefix: 2, env: {} });
  });
  it("answers a pull error for an unknown image and an exec error for an unknown command", () => {
    const pull = resolveCommand(map, "busybox", ["sh"], [], p);
    assert.equal(pull.kind, "pull");
    // containerd's words for an image the registry does not have: what tells it from an outage.
    assert.match(
      (pull as { message: string }).message,
      /^rpc error: code = NotFound desc = failed to pull and unpack image "busybox": failed to resolve reference "busybox": busybox: not found \(the devcluster image map has no entry for busybox\)$/,
    );
    const r = resolveCommand(map, "nnunet-operator/nnunet", ["bash"], [], p);
    assert.equal(r.kind, "exec");
    assert.match((r as { message: string }).message, /exec: "bash": executable file not found in \$PATH/);
  });
});

describe("projected volumes", () => {
  // The chart mounts each pod's NATS auth keys as a projected volume of the auth Secret (and
  // the TLS CA); the kubelet writes the selected items of every source into one folder.
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "auth", namespace: "ns" },
    data: { "a.creds": Buffer.from("A").toString("base64"), "b.creds": Buffer.from("B").toString("base64") },
  };
  const ca = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "tls", namespace: "ns" },
    stringData: { "ca.crt": "CA" },
  };
  const lookups: Lookups = {
    configMap: (_ns, name) =>
      name === "cm"
        ? ({
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "cm", namespace: "ns" },
            data: { "nats.conf": "port: 4222" },
            binaryData: { "blob.bin": Buffer.from("bytes").toString("base64") },
          } as KubeObject)
        : undefined,
    secret: (_ns, name) => (name === "auth" ? (secret as KubeObject) : name === "tls" ? (ca as KubeObject) : undefined),
    claim: () => undefined,
  };
  const pod = (sources: ProjectedSource[]): KubeObject =>
    ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "ns", uid: `uid-${Math.random()}` },
      spec: { volumes: [{ name: "v", projected: { sources } }] },
    }) as KubeObject;
  const cases: Array<{ name: string; sources: ProjectedSource[]; want?: Record<string, string>; error?: RegExp }> = [
    {
      name: "writes only the selected keys of a Secret",
      sources: [{ secret: { name: "auth", items: [{ key: "a.creds", path: "a.creds" }] } }],
      want: { "a.creds": "A" },
    },
    {
      name: "merges the sources into one folder",
      sources: [
        { secret: { name: "auth", items: [{ key: "b.creds", path: "b.creds" }] } },
        { secret: { name: "tls", items: [{ key: "ca.crt", path: "ca.crt" }] } },
        { configMap: { name: "cm" } },
      ],
      want: { "b.creds": "B", "ca.crt": "CA", "nats.conf": "port: 4222", "blob.bin": "bytes" },
    },
    {
      name: "fails the mount on an item naming a key the Secret lacks, as the kubelet's secret plugin says",
      sources: [{ secret: { name: "auth", items: [{ key: "c.creds", path: "c.creds" }] } }],
      error: /^MountError: MountVolume\.SetUp failed for volume "v" : references non-existent secret key: c\.creds$/,
    },
    {
      name: "fails the mount on an item naming a key the ConfigMap lacks, as the kubelet's configmap plugin says",
      sources: [{ configMap: { name: "cm", items: [{ key: "other.conf", path: "x" }] } }],
      error:
        /^MountError: MountVolume\.SetUp failed for volume "v" : configmap references non-existent config key: other\.conf$/,
    },
    {
      name: "leaves out a missing key of an optional source and writes the others",
      sources: [
        {
          secret: {
            name: "auth",
            optional: true,
            items: [
              { key: "a.creds", path: "a.creds" },
              { key: "c.creds", path: "c.creds" },
            ],
          },
        },
      ],
      want: { "a.creds": "A" },
    },
    {
      name: "fails the mount on a missing Secret, as FailedMount says",
      sources: [{ secret: { name: "gone" } }],
      error: /secret "gone" not found/,
    },
    {
      name: "mounts nothing of a missing optional source",
      sources: [{ secret: { name: "gone", optional: true } }],
      want: {},
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const root = mkdtempSync(join(tmpdir(), "projected-"));
      try {
        if (c.error)
          return void assert.throws(
            () => prepareVolumes(pod(c.sources), root, lookups),
            (e: Error) => c.error!.test(`${e.name}: ${e.message}`),
          );
        const dir = prepareVolumes(pod(c.sources), root, lookups).get("v")!;
        assert.deepEqual(
          Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), "utf8")])),
          c.want,
        );
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  }
});
