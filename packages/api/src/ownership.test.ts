import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { controllerRefOf, isControlledBy, type OwnedLike } from "./ownership.js";

// ControllerRef: the one ownerReference with controller: true, matched by uid.

const owned = (...refs: Array<{ uid?: string; controller?: boolean }>): OwnedLike => ({
  metadata: {
    ownerReferences: refs.map((r) => ({
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      name: "liver",
      ...r,
    })),
  },
});

describe("isControlledBy", () => {
  const cases: Array<[string, OwnedLike, string | undefined, boolean]> = [
    ["the controller's uid", owned({ uid: "u1", controller: true }), "u1", true],
    [
      "another uid: a run of the same name, deleted and created again",
      owned({ uid: "u0", controller: true }),
      "u1",
      false,
    ],
    ["an owner that is not the controller", owned({ uid: "u1" }, { uid: "u2", controller: true }), "u1", false],
    ["no owner at all", { metadata: {} }, "u1", false],
    ["no uid to match", owned({ uid: "", controller: true }), "", false],
    ["an undefined uid never matches", owned({ controller: true }), undefined, false],
  ];
  for (const [name, obj, uid, want] of cases) it(name, () => assert.equal(isControlledBy(obj, uid), want));

  it("reads the controller's apiVersion, kind, name and uid", () => {
    assert.deepEqual(controllerRefOf(owned({ uid: "u2" }, { uid: "u1", controller: true })), {
      apiVersion: "nnunet-operator.io/v1alpha1",
      kind: "TrainingRun",
      name: "liver",
      uid: "u1",
    });
  });
});
