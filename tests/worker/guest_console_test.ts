// The console of an actor's code: formatted as Deno's, written through the
// worker's confined stdio.
import assert from "node:assert/strict";
import { formatArgs, guestConsole } from "../../src/worker/_guest_console.ts";

Deno.test("console arguments are formatted as console.log formats them", () => {
  assert.equal(formatArgs(["%s is %d years, %i%%", "Ada", 36.6, "7.9"]), "Ada is 36.6 years, 7%");
  assert.equal(formatArgs(["%j and %o", { a: 1 }, [1]]), '{"a":1} and [ 1 ]');
  assert.equal(formatArgs(["%c styled", "color: red"]), " styled");
  assert.equal(formatArgs(["no args %s"]), "no args %s");
  assert.equal(formatArgs(["a", 1, { b: "c" }, null]), 'a 1 { b: "c" } null');
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  assert.equal(formatArgs(["%j", circular]), "[Circular]");
});

Deno.test("each console method writes to the stream Deno's would, groups indent, counts and timers count", () => {
  const out: string[] = [];
  const err: string[] = [];
  const c = guestConsole({ out: (t) => out.push(t), err: (t) => err.push(t) });
  c.log("log");
  c.info("info");
  c.warn("warn");
  c.error("error");
  c.group("group");
  c.debug("inner\nlines");
  c.groupEnd();
  c.count();
  c.count();
  c.countReset();
  c.count();
  c.assert(true, "not shown");
  c.assert(false, "shown %d", 1);
  c.time("t");
  c.timeEnd("t");
  c.timeEnd("never started");
  assert.deepEqual(out.slice(0, 8), [
    "log\n",
    "info\n",
    "group\n",
    "  inner\n  lines\n",
    "default: 1\n",
    "default: 2\n",
    "default: 1\n",
    out[7],
  ]);
  assert.match(out[7]!, /^t: \d+(\.\d+)?ms\n$/);
  assert.equal(out.length, 8);
  assert.deepEqual(err, ["warn\n", "error\n", "Assertion failed: shown 1\n"]);
});
