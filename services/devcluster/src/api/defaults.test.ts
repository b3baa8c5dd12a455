import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { applyBuiltinDefaults } from "./defaults.js";
import { builtinResources, type KubeObject } from "./resources.js";

const secretDef = builtinResources().find((d) => d.resource === "secrets")!;
const secret = (extra: object): KubeObject =>
  ({ apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, ...extra }) as KubeObject;
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

describe("a Secret written with stringData, as kube-apiserver stores it", () => {
  const cases: [string, object, Record<string, string>][] = [
    ["stringData alone becomes base64 data", { stringData: { "a.conf": "x: 1\n" } }, { "a.conf": b64("x: 1\n") }],
    [
      "stringData wins over data on a shared key and keeps the others",
      { data: { a: b64("old"), b: b64("kept") }, stringData: { a: "new" } },
      { a: b64("new"), b: b64("kept") },
    ],
    ["data alone is left as it is", { data: { a: b64("v") } }, { a: b64("v") }],
  ];
  for (const [name, body, data] of cases) {
    it(name, () => {
      const o = secret(body);
      applyBuiltinDefaults(secretDef, o);
      const stored = o as unknown as { data?: Record<string, string>; stringData?: unknown; type?: string };
      assert.deepEqual(stored.data, data);
      assert.equal(stored.stringData, undefined, "stringData is never stored");
      assert.equal(stored.type, "Opaque");
    });
  }
});
