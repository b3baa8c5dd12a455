import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { addressBlock, randomAddress } from "./address-block.js";

describe("address blocks for devclusters side by side", () => {
  const cases: { block: number | undefined; random: number; address: string | undefined }[] = [
    { block: undefined, random: 0, address: "127.1.0.1" },
    { block: undefined, random: 0.999999, address: "127.1.253.254" },
    { block: 0, random: 0, address: "127.1.0.1" },
    { block: 0, random: 0.999999, address: "127.1.63.254" },
    { block: 1, random: 0, address: "127.1.64.1" },
    { block: 3, random: 0.999999, address: "127.1.255.254" },
  ];
  for (const c of cases)
    it(`block ${c.block ?? "none"} with a draw of ${c.random} gives ${c.address}`, () =>
      assert.equal(
        randomAddress("127.1.", () => c.random, c.block),
        c.address,
      ));

  it("never gives a network or broadcast host address (fourth octet 0 or 255)", () => {
    for (let k = 0; k < 4096; k++) {
      const a = randomAddress("127.96.", () => k / 4096, 2);
      if (a === undefined) continue;
      const [, , third, fourth] = a.split(".").map(Number);
      assert.ok(third! >= 128 && third! < 192, a);
      assert.ok(fourth! > 0 && fourth! < 255, a);
    }
  });

  const envs: { value: string | undefined; block?: number; error?: RegExp }[] = [
    { value: undefined },
    { value: "" },
    { value: "0", block: 0 },
    { value: "3", block: 3 },
    { value: "4", error: /DEVCLUSTER_ADDRESS_BLOCK must be an integer from 0 to 3, not "4"/ },
    { value: "one", error: /not "one"/ },
  ];
  for (const e of envs)
    it(`DEVCLUSTER_ADDRESS_BLOCK=${JSON.stringify(e.value)} ${e.error ? "is refused naming the variable" : `is block ${e.block ?? "none"}`}`, () => {
      const env = e.value === undefined ? {} : { DEVCLUSTER_ADDRESS_BLOCK: e.value };
      if (e.error) assert.throws(() => addressBlock(env), e.error);
      else assert.equal(addressBlock(env), e.block);
    });
});
