// The synchronous check behind `tell` and `ask`: what it lets through must
// clone, and what cannot be cloned is named by its path. Each case is also
// given to `structuredClone`, the platform's own verdict.
import assert from "node:assert/strict";
import { findUncloneable } from "../../src/actor/_cloneable.ts";

class Point {
  x = 1;
  y = 2;
}

const cloneable: [string, unknown][] = [
  ["a primitive", 42],
  ["null", null],
  ["a message of the benchmarks' shape", { type: "add", n: 7 }],
  ["nested plain data", { a: [1, { b: "two", c: [null, true] }], d: { e: { f: 1n } } }],
  ["an object without a prototype", Object.assign(Object.create(null), { a: 1 })],
  ["an object with an own `constructor` string", { constructor: "not a function" }],
  ["a class instance with plain fields", new Point()],
  ["a Map and a Set of plain data", { m: new Map([["k", { v: 1 }]]), s: new Set([1, 2]) }],
  ["a Date, a RegExp, bytes and an Error", [new Date(0), /x/g, new Uint8Array(3), new Error("e")]],
  ["data deeper than the quick check", {
    a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } },
  }],
];

const uncloneable: [string, unknown, string][] = [
  ["a function", () => {}, "message is a function"],
  ["a symbol", Symbol("s"), "message is a symbol"],
  ["a nested function", { a: [{ b: () => {} }] }, "message.a[0].b is a function"],
  ["a nested symbol", { a: { s: Symbol("s") } }, "message.a.s is a symbol"],
  ["a Promise", { p: Promise.resolve(1) }, "message.p is a Promise"],
  ["a WeakMap", [new WeakMap()], "message[0] is a WeakMap"],
  ["a function in a Map", new Map([["k", () => {}]]), "message entry is a function"],
  // `constructor` equal to `Object` does not make a function cloneable.
  [
    "an own enumerable `constructor: Object`",
    { constructor: Object },
    "message.constructor is a function",
  ],
  [
    "an object without a prototype holding a function",
    Object.assign(Object.create(null), { f() {} }),
    "message.f is a function",
  ],
  ["a function deeper than the quick check", {
    a: { b: { c: { d: { e: { f: { g: { h: { i: () => {} } } } } } } } },
  }, "message.a.b.c.d.e.f.g.h.i is a function"],
];

for (const [what, value] of cloneable) {
  Deno.test(`findUncloneable lets ${what} through, and it clones`, () => {
    assert.equal(findUncloneable(value), undefined);
    structuredClone(value);
  });
}

for (const [what, value, culprit] of uncloneable) {
  Deno.test(`findUncloneable names ${what}, which does not clone`, () => {
    assert.equal(findUncloneable(value), culprit);
    assert.throws(() => structuredClone(value), DOMException);
  });
}

Deno.test("findUncloneable ends on cyclic data", () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  assert.equal(findUncloneable(cyclic), undefined);
  const bad: Record<string, unknown> = { f: () => {} };
  bad.self = bad;
  assert.equal(findUncloneable({ bad }), "message.bad.f is a function");
});
