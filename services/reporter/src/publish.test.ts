import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EpochPublisher, retryDelay } from "./publish.js";
import { FakeBus, FakeClock, IDENTITY, TerminalError, makeEpochMessage, settle } from "./testing.js";

// The publisher's buffer against a fake bus and a fake clock: nothing here waits for real
// time, every retry happens when the test moves the clock.

function setup(options: { maxBuffered?: number; up?: boolean } = {}) {
  const clock = new FakeClock();
  const bus = new FakeBus();
  bus.up = options.up ?? true;
  const events: string[] = [];
  const publisher = new EpochPublisher({
    bus,
    identity: IDENTITY,
    maxBuffered: options.maxBuffered ?? 100,
    sleep: clock.sleep,
    retryInitialMs: 100,
    retryMaxMs: 2000,
    events: {
      published: (e, dup) => events.push(`published ${e}${dup ? " (duplicate)" : ""}`),
      dropped: (e) => events.push(`dropped ${e}`),
      rejected: (e) => events.push(`rejected ${e}`),
      recovered: (n) => events.push(`recovered after ${n}`),
    },
  });
  const enqueue = (...epochs: number[]) => epochs.map((e) => publisher.enqueue(makeEpochMessage(e)));
  return { clock, bus, publisher, events, enqueue };
}

const ids = (...epochs: number[]) => epochs.map((e) => `uid-1/0/0/${e}`);

describe("EpochPublisher", () => {
  it("publishes each epoch once, in order, with the id <runUid>/<fold>/<attempt>/<epoch>", async () => {
    const { bus, publisher, enqueue } = setup();
    enqueue(0, 1, 2);
    await settle();
    assert.deepEqual(bus.stored, ids(0, 1, 2));
    assert.equal(publisher.stats.published, 3);
    assert.equal(publisher.buffered, 0);
    assert.equal(publisher.lastPublishedEpoch, 2);
  });

  it("buffers while the bus is down and catches up in order when it is back", async () => {
    const { clock, bus, publisher, enqueue, events } = setup({ up: false });
    enqueue(0, 1, 2, 3);
    await settle();
    assert.equal(publisher.buffered, 4);
    assert.deepEqual(bus.stored, []);
    await clock.advance(100);
    await clock.advance(200);
    enqueue(4);
    bus.up = true;
    await clock.advance(400);
    assert.deepEqual(bus.stored, ids(0, 1, 2, 3, 4));
    assert.equal(publisher.buffered, 0);
    assert.equal(events[0], "recovered after 3");
    // Only the head was tried while down: the rest never left the buffer out of order.
    assert.deepEqual(new Set(bus.tries.slice(0, 3)), new Set(ids(0)));
  });

  it("keeps the oldest past the bound and drops the newest, counting each", async () => {
    const { clock, bus, publisher, enqueue, events } = setup({ maxBuffered: 3, up: false });
    const accepted = enqueue(0, 1, 2, 3, 4, 5);
    assert.deepEqual(accepted, [true, true, true, false, false, false]);
    assert.equal(publisher.stats.dropped, 3);
    assert.deepEqual(events, ["dropped 3", "dropped 4", "dropped 5"]);
    bus.up = true;
    publisher.wake();
    await clock.advance(0);
    assert.deepEqual(bus.stored, ids(0, 1, 2));
    // Room again: later epochs are taken.
    enqueue(6);
    await settle();
    assert.deepEqual(bus.stored, ids(0, 1, 2, 6));
  });

  it("retries with doubling waits capped at the maximum", async () => {
    const { clock, publisher, enqueue } = setup({ up: false });
    enqueue(0);
    await settle();
    for (let i = 0; i < 7; i++) await clock.advance(2000);
    assert.deepEqual(clock.waits.slice(0, 7), [100, 200, 400, 800, 1600, 2000, 2000]);
    assert.equal(publisher.stats.failures, 8);
  });

  it("retries at once when woken (the connection is back) instead of waiting out the backoff", async () => {
    const { clock, bus, publisher, enqueue } = setup({ up: false });
    enqueue(0);
    for (let i = 0; i < 5; i++) await clock.advance(2000);
    bus.up = true;
    publisher.wake();
    await settle();
    assert.deepEqual(bus.stored, ids(0));
    assert.equal(clock.pending, 0);
  });

  it("an ack lost after the server stored the epoch: the retry is a duplicate, stored once, and the next epoch follows", async () => {
    const { clock, bus, publisher, enqueue, events } = setup();
    bus.loseAcks = 1;
    enqueue(0, 1);
    await clock.advance(100);
    assert.deepEqual(bus.stored, ids(0, 1));
    assert.deepEqual(events, ["recovered after 1", "published 0 (duplicate)", "published 1"]);
    assert.equal(publisher.stats.duplicates, 1);
  });

  it("an epoch refused for good is counted and skipped; the ones after it still go", async () => {
    const { bus, publisher, enqueue, events } = setup();
    bus.refuse.add("uid-1/0/0/1");
    enqueue(0, 1, 2);
    await settle();
    assert.deepEqual(bus.stored, ids(0, 2));
    assert.equal(publisher.stats.rejected, 1);
    assert.ok(events.includes("rejected 1"));
  });

  it("flush resolves true once the buffer is empty and false at its timeout while the bus stays down", async () => {
    const { clock, bus, publisher, enqueue } = setup({ up: false });
    enqueue(0, 1);
    const stuck = publisher.flush(5000);
    await clock.advance(5000);
    assert.equal(await stuck, false);
    const done = publisher.flush(5000);
    bus.up = true;
    publisher.wake();
    await settle();
    assert.equal(await done, true);
    assert.equal(await publisher.flush(1), true, "an empty buffer flushes at once");
  });

  it("an epoch queued after the pump ran dry (from the flush continuation) starts it again", async () => {
    const { bus, publisher, enqueue } = setup();
    enqueue(0);
    await publisher.flush(1000).then(() => enqueue(1));
    await settle();
    assert.deepEqual(bus.stored, ids(0, 1));
    assert.equal(publisher.buffered, 0);
  });

  it("close stops publishing, leaves the rest buffered and refuses new epochs", async () => {
    const { bus, publisher, enqueue } = setup({ up: false });
    enqueue(0, 1);
    await settle();
    await publisher.close();
    assert.deepEqual(enqueue(2), [false]);
    bus.up = true;
    await settle();
    assert.deepEqual(bus.stored, []);
    assert.equal(publisher.buffered, 2);
  });
});

describe("EpochPublisher after a restart", () => {
  it("asks the stream once where this attempt left off and sends only the epochs after it", async () => {
    const { bus, publisher, enqueue } = setup();
    bus.lastStored = () => 2;
    enqueue(0, 1, 2, 3, 4);
    await settle();
    enqueue(5);
    await settle();
    assert.deepEqual(bus.stored, ids(3, 4, 5));
    assert.equal(publisher.stats.alreadyStored, 3);
    assert.equal(bus.lookups, 1);
  });

  it("learnt as soon as the bus is up, before the log is re-read: stored epochs are not even queued, so a log longer than the buffer loses nothing", async () => {
    const { bus, publisher, enqueue } = setup({ maxBuffered: 3 });
    bus.lastStored = () => 9;
    await publisher.resume();
    enqueue(...Array.from({ length: 13 }, (_, i) => i));
    await settle();
    assert.deepEqual(bus.stored, ids(10, 11, 12));
    assert.equal(publisher.stats.dropped, 0);
    assert.equal(publisher.stats.alreadyStored, 10);
    await publisher.resume();
    assert.equal(bus.lookups, 1, "asked once");
  });

  it("nothing stored from this attempt (a first start, or only older attempts in the stream): everything is sent", async () => {
    const { bus, enqueue } = setup();
    bus.lastStored = () => undefined;
    enqueue(0, 1);
    await settle();
    assert.deepEqual(bus.stored, ids(0, 1));
  });

  it("a lookup that fails while the bus is down is retried like a publish", async () => {
    const { clock, bus, publisher, enqueue } = setup({ up: false });
    bus.lastStored = () => 0;
    enqueue(0, 1);
    await clock.advance(100);
    assert.equal(publisher.stats.failures, 2);
    bus.up = true;
    await clock.advance(200);
    assert.deepEqual(bus.stored, ids(1));
  });

  it("a lookup refused for good (no permission) falls back to publishing everything", async () => {
    const { bus, publisher, enqueue } = setup();
    bus.lastStored = () => {
      throw new TerminalError("permissions violation");
    };
    enqueue(0, 1);
    await settle();
    assert.deepEqual(bus.stored, ids(0, 1));
    assert.equal(publisher.stats.rejected, 0);
  });
});

describe("retryDelay", () => {
  const table: [n: number, expected: number][] = [
    [1, 100],
    [2, 200],
    [5, 1600],
    [6, 2000],
    [1000, 2000],
  ];
  for (const [n, expected] of table)
    it(`try ${n} waits ${expected} ms`, () => assert.equal(retryDelay(n, 100, 2000), expected));
});
