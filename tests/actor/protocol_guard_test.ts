// The host's checks of what workers post: every valid shape passes, and
// wrong types, sizes and counters are named.
import assert from "node:assert/strict";
import { invalidLinkReply, invalidWorkerMessage } from "../../src/actor/_protocol_guard.ts";
import { DEFAULT_LIMITS } from "../../src/limits.ts";

const error = { name: "Error", message: "boom" };
const span = {
  name: "work",
  traceId: "0af7651916cd43dd8448eb211c80319c",
  spanId: "b7ad6b7169203331",
  kind: "internal",
  startTime: 1_700_000_000_000,
  endTime: 1_700_000_000_001,
  attributes: { "a": 1, "b": ["x", null] },
  events: [],
  status: { code: "ok" },
};

Deno.test("every well-formed worker message passes the guard", () => {
  for (
    const message of [
      { k: "ready", restoredSeq: 0 },
      { k: "init-failed", error },
      { k: "connect", target: "exec/a", space: "ab12" },
      { k: "request", id: 1, request: { op: "call", service: "oao.tool", payload: {} } },
      { k: "request", id: 2, request: { op: "spawn", module: "file:///a.ts", options: {} } },
      { k: "request", id: 3, request: { op: "stop", target: "a/b", mode: "graceful" } },
      {
        k: "snapshot",
        incarnation: 1,
        version: 3,
        data: { state: 1, cursors: { "a#b": 2 }, outbox: {}, processed: 3 },
      },
      { k: "failed", reason: "exception", error, key: "$host#1", seq: 4 },
      { k: "failed", reason: "worker_exited", error },
      { k: "dead-letter", key: "$host#1", from: "$host", seq: 1, body: 1, error, attempts: 3 },
      { k: "dropped", key: "$host#1", from: "$host", seq: 1, policy: "drop-newest" },
      { k: "undeliverable", target: "a", error },
      { k: "spans", spans: [span] },
      { k: "logs", records: [{ level: "info", message: "hi", properties: { n: 1 } }] },
      { k: "stopped" },
    ]
  ) {
    assert.equal(invalidWorkerMessage(message, DEFAULT_LIMITS), undefined, JSON.stringify(message));
  }
});

Deno.test("malformed worker messages are refused with what is wrong", () => {
  const cases: [unknown, RegExp][] = [
    [null, /message is null/],
    [5, /message is number/],
    [[], /message is object/],
    [{ k: "logs", records: 5 }, /not an array/],
    [{ k: "logs", records: [null] }, /not an object/],
    [{ k: "logs", records: [{ level: "info", message: 5, properties: {} }] }, /not a string/],
    [{ k: "logs", records: [{ level: "trace", message: "", properties: {} }] }, /unknown level/],
    [
      { k: "logs", records: Array(1001).fill({ level: "info", message: "", properties: {} }) },
      /over 1000/,
    ],
    [{ k: "ready", restoredSeq: -1 }, /restoredSeq/],
    [{ k: "ready", restoredSeq: NaN }, /restoredSeq/],
    [{ k: "request", id: 1.5, request: { op: "call", service: "s" } }, /request id/],
    [{ k: "request", id: 1, request: { op: "rm" } }, /unknown request op/],
    [
      { k: "request", id: 1, request: { op: "stop", target: "x".repeat(5000), mode: "graceful" } },
      /target/,
    ],
    [{ k: "snapshot", incarnation: 1, version: Infinity, data: {} }, /version/],
    [{
      k: "snapshot",
      incarnation: 1,
      version: 1,
      data: { processed: 1, cursors: { a: -1 }, outbox: {} },
    }, /cursors/],
    [{ k: "failed", reason: "oom", error }, /invalid failure reason/],
    [{ k: "failed", reason: "exception", error: { name: "E", message: 1 } }, /not a string/],
    [{ k: "dead-letter", key: "k", from: "f", seq: -3, body: 1, error, attempts: 1 }, /seq/],
    [{ k: "spans", spans: [{ ...span, traceId: "nope" }] }, /trace id/],
    [{ k: "spans", spans: [{ ...span, attributes: { a: { deep: 1 } } }] }, /attribute/],
    [{ k: "spans", spans: Array(10_001).fill(span) }, /over 10000/],
    [{ k: "spans", spans: [], packed: [{ count: 1_000_001 }] }, /over 1000000/],
    [{ k: "__proto__" }, /unknown message kind/],
  ];
  for (const [message, reason] of cases) {
    assert.match(
      invalidWorkerMessage(message, DEFAULT_LIMITS) ?? "passed",
      reason,
      JSON.stringify(message)?.slice(0, 80),
    );
  }
});

Deno.test("link replies may acknowledge only what was sent and must carry valid errors", () => {
  assert.equal(invalidLinkReply({ k: "a", upTo: 3 }, 3), undefined);
  assert.equal(invalidLinkReply({ k: "r", a: 1, ok: true, v: 1 }, 0), undefined);
  assert.equal(invalidLinkReply({ k: "r", a: 1, ok: false, e: error, upTo: 1 }, 1), undefined);
  assert.match(invalidLinkReply({ k: "a", upTo: 4 }, 3)!, /never sent/);
  const e = { name: "E", message: "m" };
  assert.equal(invalidLinkReply({ k: "x", seqs: [2, 3], asks: [1], e }, 3), undefined);
  assert.match(invalidLinkReply({ k: "x", seqs: [4], asks: [], e }, 3)!, /never sent/);
  assert.match(invalidLinkReply({ k: "x", seqs: [], asks: [], e }, 3)!, /no message/);
  assert.match(invalidLinkReply({ k: "x", seqs: Array(1_001).fill(1), asks: [], e }, 3)!, /seqs/);
  assert.match(invalidLinkReply({ k: "x", seqs: [1], asks: Array(1_001).fill(1), e }, 3)!, /asks/);
  assert.match(invalidLinkReply({ k: "a", upTo: NaN }, 3)!, /never sent/);
  assert.match(invalidLinkReply(null, 3)!, /null/);
  assert.match(invalidLinkReply({ k: "r", a: -1, ok: true }, 3)!, /ask id/);
  assert.match(invalidLinkReply({ k: "r", a: 1, ok: false, e: { name: 1 } }, 3)!, /error/);
  assert.match(invalidLinkReply({ k: "x", seqs: ["1"], asks: [], e: error }, 3)!, /seqs/);
  assert.match(invalidLinkReply({ k: "q" }, 3)!, /unknown/);
});
