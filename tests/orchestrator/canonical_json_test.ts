import assert from "node:assert/strict";
import { canonicalJson, sha256Hex } from "../../src/orchestrator/canonical_json.ts";
import { callHash, callKey } from "../../src/orchestrator/tool.ts";

Deno.test("canonical JSON sorts keys at every depth and drops undefined properties", () => {
  assert.equal(
    canonicalJson({ b: [3, { z: 1, a: undefined, y: [true, null] }], a: "x" }),
    '{"a":"x","b":[3,{"y":[true,null],"z":1}]}',
  );
  assert.equal(canonicalJson([undefined]), "[null]");
});

Deno.test("canonical JSON refuses what JSON cannot represent, naming where", () => {
  assert.throws(() => canonicalJson({ a: { b: () => 1 } }), /\$\.a\.b: a function is not JSON/);
  assert.throws(() => canonicalJson({ n: NaN }), /\$\.n: NaN is not a finite number/);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => canonicalJson(cyclic), /cycle/);
});

Deno.test("tool call keys: same call, same hash whatever the key order; occurrence tells repeats apart", async () => {
  const a = await callHash("search", { q: "x", limit: 3 });
  const b = await callHash("search", { limit: 3, q: "x" });
  assert.equal(a, b);
  assert.notEqual(a, await callHash("search", { q: "y", limit: 3 }));
  assert.notEqual(a, await callHash("fetch", { q: "x", limit: 3 }));
  assert.equal(a, await sha256Hex('{"args":{"limit":3,"q":"x"},"tool":"search"}'));
  assert.equal(callKey(a, 2), `${a}#2`);
});
