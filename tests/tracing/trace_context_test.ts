import assert from "node:assert/strict";
import {
  formatTraceparent,
  newSpanId,
  newTraceContext,
  newTraceId,
  parseTraceparent,
} from "../../src/tracing/trace_context.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

Deno.test("parseTraceparent reads the W3C example header", () => {
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-01`), {
    traceId: TRACE,
    spanId: SPAN,
    sampled: true,
  });
});

Deno.test("parseTraceparent reads the sampled bit only from the flags", () => {
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.sampled, false);
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.sampled, true);
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-02`)?.sampled, false);
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-ff`)?.sampled, true);
});

Deno.test("parseTraceparent attaches tracestate unchanged when given", () => {
  const ctx = parseTraceparent(`00-${TRACE}-${SPAN}-01`, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  assert.equal(ctx?.tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  assert.equal("tracestate" in (parseTraceparent(`00-${TRACE}-${SPAN}-01`, "") ?? {}), false);
});

Deno.test("parseTraceparent returns undefined for absent or empty headers", () => {
  assert.equal(parseTraceparent(undefined), undefined);
  assert.equal(parseTraceparent(null), undefined);
  assert.equal(parseTraceparent(""), undefined);
});

Deno.test("parseTraceparent rejects all-zero trace or span ids", () => {
  assert.equal(parseTraceparent(`00-${"0".repeat(32)}-${SPAN}-01`), undefined);
  assert.equal(parseTraceparent(`00-${TRACE}-${"0".repeat(16)}-01`), undefined);
});

Deno.test("parseTraceparent rejects version ff and malformed fields", () => {
  const invalid = [
    `ff-${TRACE}-${SPAN}-01`, // forbidden version
    `0-${TRACE}-${SPAN}-01`, // short version
    `00-${TRACE.slice(1)}-${SPAN}-01`, // short trace id
    `00-${TRACE}0-${SPAN}-01`, // long trace id
    `00-${TRACE}-${SPAN.slice(1)}-01`, // short span id
    `00-${TRACE}-${SPAN}-1`, // short flags
    `00-${TRACE}-${SPAN}-0g`, // non-hex flags
    `00-${TRACE.replace("4", "g")}-${SPAN}-01`, // non-hex trace id
    `00_${TRACE}_${SPAN}_01`, // wrong separators
    `00-${TRACE}-${SPAN}-01-extra`, // version 00 has exactly four fields
    `00-${TRACE}-${SPAN}`, // missing flags
    "garbage",
  ];
  for (const header of invalid) assert.equal(parseTraceparent(header), undefined, header);
});

Deno.test("parseTraceparent tolerates surrounding whitespace (HTTP optional whitespace)", () => {
  assert.equal(parseTraceparent(`  00-${TRACE}-${SPAN}-01 `)?.traceId, TRACE);
});

Deno.test("formatTraceparent writes version 00 with lowercase ids and the sampled flag", () => {
  assert.equal(
    formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: false }),
    `00-${TRACE}-${SPAN}-00`,
  );
  assert.equal(
    formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: true, tracestate: "a=b" }),
    `00-${TRACE}-${SPAN}-01`,
  );
});

Deno.test("format then parse round-trips a new context", () => {
  for (const sampled of [true, false]) {
    const ctx = newTraceContext(sampled);
    assert.deepEqual(parseTraceparent(formatTraceparent(ctx)), ctx);
  }
});

Deno.test("new ids are lowercase hex of the right length, non-zero and distinct", () => {
  const traceIds = new Set<string>();
  const spanIds = new Set<string>();
  for (let i = 0; i < 2_000; i++) {
    const traceId = newTraceId();
    const spanId = newSpanId();
    assert.match(traceId, /^[0-9a-f]{32}$/);
    assert.match(spanId, /^[0-9a-f]{16}$/);
    assert.notEqual(traceId, "0".repeat(32));
    assert.notEqual(spanId, "0".repeat(16));
    traceIds.add(traceId);
    spanIds.add(spanId);
  }
  assert.equal(traceIds.size, 2_000);
  assert.equal(spanIds.size, 2_000);
});

Deno.test("new ids use every hex digit in every position over many draws", () => {
  const seen = Array.from({ length: 32 }, () => new Set<string>());
  for (let i = 0; i < 2_000; i++) {
    const id = newTraceId();
    for (let p = 0; p < 32; p++) seen[p]!.add(id[p]!);
  }
  for (const [p, digits] of seen.entries()) assert.equal(digits.size, 16, `position ${p}`);
});

Deno.test("a new trace context carries the requested sampling decision and no tracestate", () => {
  assert.equal(newTraceContext(true).sampled, true);
  const ctx = newTraceContext(false);
  assert.equal(ctx.sampled, false);
  assert.equal("tracestate" in ctx, false);
});

Deno.test("hex8 writes a 32-bit word as eight lowercase hex digits, most significant first", async () => {
  const { hex8 } = await import("../../src/tracing/_random.ts");
  for (
    const word of [0, 1, 0xf, 0x10, 0xff, 0x100, 0x00ff00ff, 0x80000000, 0xfedcba98, 0xffffffff]
  ) {
    assert.equal(hex8(word), word.toString(16).padStart(8, "0"), `0x${word.toString(16)}`);
  }
  for (let i = 0; i < 1_000; i++) {
    const word = Math.floor(Math.random() * 2 ** 32);
    assert.equal(hex8(word), word.toString(16).padStart(8, "0"));
  }
});
