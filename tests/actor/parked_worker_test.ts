// The parked worker of a failed incarnation, driven with a recording port and
// a manual clock: it is told to park, ended (its park released first) on
// request or after PARK_MAX_MS, and at most MAX_PARKED are parked at once.
import assert from "node:assert/strict";
import { MAX_PARKED, PARK_MAX_MS, ParkedWorker } from "../../src/actor/_parked_worker.ts";
import type { GuestPort } from "../../src/actor/_worker_pool.ts";
import {
  PARK_RELEASED,
  PARK_REQUESTED,
  PARK_WAITING,
  SAB_PARK,
  SAB_WORDS,
} from "../../src/actor/_protocol.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";

function recordingPort(): GuestPort & { posted: unknown[]; terminated: number } {
  return {
    posted: [],
    terminated: 0,
    onmessage: null,
    onerror: null,
    postMessage(message: unknown) {
      this.posted.push(message);
    },
    terminate() {
      this.terminated++;
    },
  };
}

const words = () => new Int32Array(new SharedArrayBuffer(SAB_WORDS * 4));

Deno.test("a parked worker is told to park, and ended with its park released first", () => {
  const clock = new ManualClock();
  const port = recordingPort();
  const sab = words();
  const parked = new ParkedWorker(port, sab, clock);
  assert.deepEqual(port.posted, [{ k: "park" }]);
  assert.equal(Atomics.load(sab, SAB_PARK), PARK_REQUESTED, "asked to park before the message");
  assert.equal(parked.waiting, false, "not waiting until the worker says so");
  Atomics.store(sab, SAB_PARK, PARK_WAITING); // as the worker does before it blocks
  assert.equal(parked.waiting, true);
  parked.end();
  assert.equal(Atomics.load(sab, SAB_PARK), PARK_RELEASED);
  assert.equal(port.terminated, 1);
  assert.equal(parked.waiting, false);
  parked.end();
  assert.equal(port.terminated, 1, "ended once");
});

Deno.test("a parked worker is ended after PARK_MAX_MS when nothing ended it before", async () => {
  const clock = new ManualClock();
  const port = recordingPort();
  const sab = words();
  new ParkedWorker(port, sab, clock);
  await clock.advance(PARK_MAX_MS - 1);
  assert.equal(port.terminated, 0);
  await clock.advance(1);
  assert.equal(port.terminated, 1);
  assert.equal(Atomics.load(sab, SAB_PARK), PARK_RELEASED);
});

Deno.test(`at most ${MAX_PARKED} workers are parked at once`, () => {
  const clock = new ManualClock();
  const parked: ParkedWorker[] = [];
  while (ParkedWorker.room) parked.push(new ParkedWorker(recordingPort(), words(), clock));
  assert.equal(parked.length, MAX_PARKED);
  parked.pop()!.end();
  assert.equal(ParkedWorker.room, true);
  for (const worker of parked) worker.end();
});
