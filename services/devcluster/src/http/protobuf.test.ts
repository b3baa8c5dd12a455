import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ApiError } from "../api/errors.js";
import { decodeProtobufObject } from "./protobuf.js";

// Bodies real clients sent (kubectl create ..., helm uninstall), decoded through the
// upstream field numbers and compared with the JSON the same client prints for them.

interface Case {
  name: string;
  command: string;
  body: string;
  json: unknown;
}
const fixtures = JSON.parse(readFileSync(new URL("../../fixtures/protobuf-bodies.json", import.meta.url), "utf8")) as {
  cases: Case[];
};

describe("protobuf request bodies", () => {
  for (const c of fixtures.cases) {
    it(`decodes what \`${c.command}\` sends into the object kubectl prints as JSON`, () => {
      assert.deepEqual(decodeProtobufObject(Buffer.from(c.body, "base64")), c.json);
    });
  }

  const envelope = (apiVersion: string, kind: string, raw: Buffer) => {
    const str = (field: number, s: string) =>
      Buffer.concat([Buffer.from([(field << 3) | 2, Buffer.byteLength(s)]), Buffer.from(s)]);
    const typeMeta = Buffer.concat([str(1, apiVersion), str(2, kind)]);
    return Buffer.concat([
      Buffer.from("k8s\0", "latin1"),
      Buffer.from([0x0a, typeMeta.length]),
      typeMeta,
      Buffer.from([0x12, raw.length]),
      raw,
    ]);
  };
  const refusals: { name: string; body: Buffer; code: number; message: RegExp }[] = [
    { name: "a body without the k8s magic", body: Buffer.from("{}"), code: 400, message: /missing magic number/ },
    {
      name: "a custom resource (no field numbers exist for it)",
      body: envelope("nnunet-operator.io/v1alpha1", "TrainingRun", Buffer.alloc(0)),
      code: 415,
      message: /Kind=TrainingRun cannot be decoded from protobuf.*send application\/json/,
    },
    {
      name: "a truncated message",
      body: envelope("v1", "ConfigMap", Buffer.from([0x0a, 0x05, 0x0a])),
      code: 400,
      message: /length out of range/,
    },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name} with ${r.code}`, () => {
      assert.throws(
        () => decodeProtobufObject(r.body),
        (e: unknown) => e instanceof ApiError && e.code === r.code && r.message.test(e.message),
      );
    });
  }

  it("reads a negative int32 (a ten-byte varint) and a Quantity map as upstream writes them", () => {
    // core/v1 Container: ports[0].containerPort = -1, resources.limits = {cpu: "500m"}.
    const port = Buffer.from([0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    const quantity = Buffer.concat([Buffer.from([0x0a, 4]), Buffer.from("500m")]);
    const entry = Buffer.concat([
      Buffer.from([0x0a, 3]),
      Buffer.from("cpu"),
      Buffer.from([0x12, quantity.length]),
      quantity,
    ]);
    const resources = Buffer.concat([Buffer.from([0x0a, entry.length]), entry]);
    const name = Buffer.concat([Buffer.from([0x0a, 1]), Buffer.from("c")]);
    const container = Buffer.concat([
      name,
      Buffer.from([0x32, port.length]),
      port,
      Buffer.from([0x42, resources.length]),
      resources,
    ]);
    const spec = Buffer.concat([Buffer.from([0x12, container.length]), container]);
    const pod = Buffer.concat([Buffer.from([0x12, spec.length]), spec]);
    const out = decodeProtobufObject(envelope("v1", "Pod", pod)) as {
      spec: { containers: { name: string; ports: { containerPort: number }[]; resources: unknown }[] };
    };
    assert.deepEqual(out.spec.containers[0], {
      name: "c",
      ports: [{ containerPort: -1 }],
      resources: { limits: { cpu: "500m" } },
    });
  });
});
