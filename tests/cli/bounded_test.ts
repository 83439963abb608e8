import assert from "node:assert/strict";
import { bounded } from "../../src/cli/_bounded.ts";

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

Deno.test("bounded answers with the source's value while it is fast", async () => {
  let n = 0;
  const source = bounded(() => Promise.resolve(++n), { timeoutMs: 50 });
  assert.equal(await source(), 1);
  assert.equal(await source(), 2);
});

Deno.test("bounded answers a slow source with its last value within timeoutMs, and reads once at a time", async () => {
  const reads: ReturnType<typeof deferred<number>>[] = [];
  const source = bounded(() => {
    reads.push(deferred<number>());
    return reads.at(-1)!.promise;
  }, { timeoutMs: 30 });
  const first = source();
  reads[0]!.resolve(1);
  assert.equal(await first, 1);
  const start = performance.now();
  assert.equal(await source(), 1, "the read hangs: the last value");
  assert.equal(await source(), 1);
  assert.ok(performance.now() - start < 1_000);
  assert.equal(reads.length, 2, "the hanging read is shared, not repeated");
  reads[1]!.resolve(2);
  await new Promise((resolve) => setTimeout(resolve, 0));
  const third = source();
  reads[2]!.resolve(3);
  assert.equal(await third, 3);
});

Deno.test("bounded keeps the last value when a read fails, and rejects when it has none", async () => {
  let fail = false;
  const source = bounded(
    () => fail ? Promise.reject(new Error("Redis is down")) : Promise.resolve(7),
    { timeoutMs: 30 },
  );
  fail = true;
  await assert.rejects(source(), /Redis is down/);
  fail = false;
  assert.equal(await source(), 7);
  fail = true;
  assert.equal(await source(), 7);
  const never = bounded(() => new Promise<number>(() => {}), { timeoutMs: 10 });
  await assert.rejects(never(), /No value within 10 ms/);
  assert.throws(() => bounded(() => Promise.resolve(1), { timeoutMs: -1 }), RangeError);
});
