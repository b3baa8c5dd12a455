import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import type { EpochMetrics, Heartbeat } from "@nnunet-operator/api";
import { RECENT_EPOCH_TIMES } from "./decide/progress.js";
import { ProgressCache } from "./progress-feed.js";

// The cache the stall decision reads (decide/stall.ts): per fold the latest epochs with
// their recent epoch times, the newest heartbeat stamped with the operator's receive time,
// and a run's data gone with the run.

const id = { namespace: "team-a", run: "liver", runUid: "uid-liver", fold: "0" };
const epoch = (e: number, attempt = 0, seconds = 100): EpochMetrics => ({
  schemaVersion: 1,
  ...id,
  attempt,
  epoch: e,
  pseudoDice: [0.5],
  epochTimeSeconds: seconds,
  observedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, e)).toISOString(),
});
const beat = (attempt: number, lastEpoch?: number): Heartbeat => ({
  schemaVersion: 1,
  ...id,
  attempt,
  sentAt: "2026-01-01T00:00:00.000Z",
  buffered: 0,
  ...(lastEpoch !== undefined && { lastEpoch }),
});

describe("the progress cache", () => {
  it("keeps the last RECENT_EPOCH_TIMES epoch times for the recent epoch time, across attempts", () => {
    const cache = new ProgressCache();
    const epochs = RECENT_EPOCH_TIMES + 10;
    for (let e = 0; e < epochs; e++) cache.add(epoch(e, 0, e < epochs - 5 ? 100 : 200));
    cache.add(epoch(epochs, 1, 300));
    const p = cache.of("uid-liver").get("0");
    assert.equal(p?.recentEpochSeconds?.length, RECENT_EPOCH_TIMES);
    assert.deepEqual(p?.recentEpochSeconds?.slice(-6), [200, 200, 200, 200, 200, 300]);
    assert.equal(p?.attempt, 1);
  });

  const cases: Array<{
    name: string;
    beats: Array<[Heartbeat, number]>;
    want: { attempt: number; lastEpoch?: number; receivedAt: string };
  }> = [
    {
      name: "the newest heartbeat of an attempt wins, stamped when it arrived",
      beats: [
        [beat(0, 3), 10],
        [beat(0, 4), 20],
      ],
      want: { attempt: 0, lastEpoch: 4, receivedAt: new Date(20_000).toISOString() },
    },
    {
      name: "a late heartbeat of an older attempt does not hide the newer one",
      beats: [
        [beat(1, 5), 10],
        [beat(0, 9), 20],
      ],
      want: { attempt: 1, lastEpoch: 5, receivedAt: new Date(10_000).toISOString() },
    },
    {
      name: "a heartbeat before the first epoch has no last epoch",
      beats: [[beat(2), 30]],
      want: { attempt: 2, receivedAt: new Date(30_000).toISOString() },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const cache = new ProgressCache();
      for (const [h, at] of c.beats) cache.heartbeat(h, new Date(at * 1000));
      assert.deepEqual(cache.heartbeatsOf("uid-liver").get("0"), c.want);
    });
  }

  it("forgets a run's epochs and heartbeats together", () => {
    const cache = new ProgressCache();
    cache.add(epoch(0));
    cache.heartbeat(beat(0, 0), new Date(0));
    cache.forget("uid-liver");
    assert.equal(cache.of("uid-liver").size, 0);
    assert.equal(cache.heartbeatsOf("uid-liver").size, 0);
  });

  it("counts no feed until one has connected", () => {
    assert.equal(new ProgressCache().feedSince, undefined);
  });
});
