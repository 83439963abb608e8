// The worker's inbox on its own: runs of frame messages from several links,
// taken one message at a time in arrival order, with a capacity counted in
// messages and each overflow policy applied message by message.
import assert from "node:assert/strict";
import type { BatchFrame } from "../../src/actor/_protocol.ts";
import type { OverflowPolicy } from "../../src/actor/mailbox.ts";
import { Inbox, type InboxSlot } from "../../src/worker/_inbox.ts";

/** A frame of `count` messages starting at `s`, each body naming its link and seq. */
function frame(link: string, s: number, count: number): BatchFrame {
  return { k: "b", s, m: Array.from({ length: count }, (_, i) => `${link}${s + i}`) };
}

/** Takes every queued message, oldest first, as its body. */
function takeAll(inbox: Inbox<string>): string[] {
  const out: string[] = [];
  for (let run = inbox.peek(); run; run = inbox.peek()) {
    const index = inbox.take(run);
    out.push(run.frame.m[index] as string);
  }
  return out;
}

/** The bodies of removed slots, checking that each names its own link. */
function bodies(slots: InboxSlot<string>[] | undefined): string[] {
  assert.ok(slots, "the offer overflowed");
  return slots.map((slot) => {
    const body = slot.frame.m[slot.index] as string;
    assert.ok(body.startsWith(slot.link), `${body} is reported for link ${slot.link}`);
    return body;
  });
}

function inbox(capacity: number, overflow: OverflowPolicy): Inbox<string> {
  return new Inbox<string>({ capacity, overflow });
}

Deno.test("inbox hands out messages one at a time in arrival order, across links and frames", () => {
  const box = inbox(Infinity, "reject");
  const a1 = frame("a", 1, 3);
  const b1 = frame("b", 1, 4);
  const a4 = frame("a", 4, 2);
  assert.equal(box.offer("a", a1, 0, 3), undefined);
  assert.equal(box.offer("b", b1, 1, 3), undefined);
  assert.equal(box.offer("a", a4, 0, 2), undefined);
  assert.equal(box.length, 7);
  assert.deepEqual(takeAll(box), ["a1", "a2", "a3", "b2", "b3", "a4", "a5"]);
  assert.equal(box.length, 0);
  assert.equal(box.peek(), undefined);
});

Deno.test("inbox keeps a run at its head until its last message is taken, then moves to the next", () => {
  const box = inbox(Infinity, "reject");
  const a = frame("a", 10, 2);
  const b = frame("b", 1, 1);
  box.offer("a", a, 0, 2);
  box.offer("b", b, 0, 1);
  const run = box.peek()!;
  assert.deepEqual([run.link, run.frame, run.next, run.end], ["a", a, 0, 2]);
  assert.equal(box.take(run), 0);
  assert.equal(box.peek(), run);
  assert.equal(box.length, 2);
  assert.equal(box.take(run), 1);
  assert.equal(box.peek()?.frame, b);
  assert.equal(box.length, 1);
});

Deno.test("inbox queues nothing for an empty range", () => {
  const box = inbox(1, "reject");
  assert.equal(box.offer("a", frame("a", 1, 3), 2, 2), undefined);
  assert.equal(box.length, 0);
  assert.equal(box.peek(), undefined);
});

Deno.test("inbox counts messages, not frames, against its capacity", () => {
  const box = inbox(5, "reject");
  assert.equal(box.offer("a", frame("a", 1, 3), 0, 3), undefined);
  assert.equal(box.offer("b", frame("b", 1, 2), 0, 2), undefined);
  assert.equal(box.length, 5);
  assert.deepEqual(bodies(box.offer("c", frame("c", 1, 1), 0, 1)), ["c1"]);
  assert.equal(box.length, 5);
});

for (const policy of ["reject", "drop-newest"] as const) {
  Deno.test(`inbox with ${policy} queues what fits of an offer and returns the rest, in order`, () => {
    const box = inbox(4, policy);
    box.offer("a", frame("a", 1, 2), 0, 2);
    assert.deepEqual(bodies(box.offer("b", frame("b", 1, 6), 1, 6)), ["b4", "b5", "b6"]);
    assert.equal(box.length, 4);
    assert.deepEqual(takeAll(box), ["a1", "a2", "b2", "b3"]);
  });

  Deno.test(`inbox with ${policy} refuses a whole offer when full and keeps what it holds`, () => {
    const box = inbox(2, policy);
    box.offer("a", frame("a", 1, 2), 0, 2);
    assert.deepEqual(bodies(box.offer("b", frame("b", 7, 2), 0, 2)), ["b7", "b8"]);
    assert.deepEqual(takeAll(box), ["a1", "a2"]);
  });
}

Deno.test("inbox with drop-oldest queues the whole offer and pushes out the oldest messages, across runs", () => {
  const box = inbox(4, "drop-oldest");
  box.offer("a", frame("a", 1, 3), 0, 3);
  box.offer("b", frame("b", 1, 1), 0, 1);
  assert.deepEqual(bodies(box.offer("c", frame("c", 1, 3), 0, 3)), ["a1", "a2", "a3"]);
  assert.equal(box.length, 4);
  assert.deepEqual(takeAll(box), ["b1", "c1", "c2", "c3"]);
});

Deno.test("inbox with drop-oldest keeps only the newest messages of an offer larger than its capacity", () => {
  const box = inbox(2, "drop-oldest");
  box.offer("a", frame("a", 1, 1), 0, 1);
  assert.deepEqual(bodies(box.offer("b", frame("b", 1, 5), 0, 5)), ["a1", "b1", "b2", "b3"]);
  assert.equal(box.length, 2);
  assert.deepEqual(takeAll(box), ["b4", "b5"]);
});

Deno.test("inbox with drop-oldest resumes a partly taken run where its taker left it", () => {
  const box = inbox(3, "drop-oldest");
  box.offer("a", frame("a", 1, 3), 0, 3);
  box.take(box.peek()!); // a1 is being handled
  assert.deepEqual(bodies(box.offer("b", frame("b", 1, 2), 0, 2)), ["a2"]);
  assert.deepEqual(takeAll(box), ["a3", "b1", "b2"]);
});
