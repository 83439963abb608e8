// The real clock's timers take any delay: a platform timer longer than
// 2^31 - 1 ms (24.8 days) fires at once, so the clock runs such a timer in legs.
import assert from "node:assert/strict";
import { systemClock } from "../src/clock.ts";

Deno.test("a 30-day timer of the real clock does not fire at once, and clearing it leaves no timer behind", async () => {
  let fired = 0;
  const month = systemClock.setTimeout(() => fired++, 30 * 24 * 3_600_000);
  const short = systemClock.setTimeout(() => fired += 10, 2 ** 31 - 1);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(fired, 0, "a timer longer than 24.8 days fired at once");
  systemClock.clearTimeout(month);
  systemClock.clearTimeout(short);
  systemClock.clearTimeout(month); // twice: ignored
  // The test sanitizer fails the test if a timer is still pending here.
});

Deno.test("the real clock's short timers and sleeps still fire", async () => {
  const fired = await new Promise<number>((resolve) => {
    const started = performance.now();
    systemClock.setTimeout(() => resolve(performance.now() - started), 20);
  });
  assert.ok(fired >= 15, `fired after ${fired} ms`);
  await systemClock.sleep(1);
});
