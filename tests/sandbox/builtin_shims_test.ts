// `node:` built-ins that reach the process's stdio past the worker's
// hardening (src/actor/_builtin_shims.ts): an actor without permissions
// gets its confined console from `node:console`, and `node:fs`/`node:tty`
// refuse the standard file descriptors. Real workers; what reaches the
// process's stdout and stderr is checked by tests/sandbox/hostile_agents_test.ts.
import assert from "node:assert/strict";
import { testSystem } from "../actor/_helpers.ts";

// The bundle cache stays the default one: OAO_BUNDLE_CACHE is the process's,
// and the other test files of a `--parallel` run share it.
const ROOT = await Deno.makeTempDir({ prefix: "oao-shims-" });
globalThis.addEventListener("unload", () => Deno.removeSync(ROOT, { recursive: true }));

// Each attempt answers "ok", or the name of the error it got.
const PROBE = `
import nodeConsole, { log as consoleLog, Console } from "node:console";
import fs, { writeSync, createWriteStream, readFileSync } from "node:fs";
import tty, { isatty } from "node:tty";

const attempts = {
  "node:console is the confined console": () => nodeConsole === globalThis.console && new Console({}) === globalThis.console,
  "node:console's log is the confined one": () => { consoleLog("shim-test line"); return true; },
  "fs.writeSync(1)": () => writeSync(1, "raw\\n"),
  "fs.writeSync(2) through the default export": () => fs.writeSync(2, "raw\\n"),
  "fs.writeFileSync(2)": () => fs.writeFileSync(2, "raw\\n"),
  "fs.appendFileSync(1)": () => fs.appendFileSync(1, "raw\\n"),
  "fs.ftruncateSync(1)": () => fs.ftruncateSync(1),
  "fs.readFileSync(0)": () => readFileSync(0),
  "fs.readSync(0)": () => fs.readSync(0, new Uint8Array(1)),
  "fs.createWriteStream fd 2": () => createWriteStream("", { fd: 2 }),
  "new fs.WriteStream fd 1": () => new fs.WriteStream("", { fd: 1 }),
  "new fs.SyncWriteStream(2)": () => new fs.SyncWriteStream(2),
  "new tty.WriteStream(1)": () => new tty.WriteStream(1),
  "new tty.ReadStream(0)": () => new tty.ReadStream(0),
  "isatty(1) is false": () => isatty(1) === false && tty.isatty(2) === false,
};

async function callbackRefusal() {
  return await new Promise((resolve) => fs.write(2, "raw\\n", (error) => resolve(error?.name ?? "ok")));
}

export default {
  initialState: null,
  async receive(state, _message, ctx) {
    const results = {};
    for (const [name, attempt] of Object.entries(attempts)) {
      try {
        const value = attempt();
        results[name] = value === false ? "false" : "ok";
      } catch (error) {
        results[name] = error?.name ?? String(error);
      }
    }
    results["fs.write(2, cb)"] = await callbackRefusal();
    ctx.reply(results);
    return state;
  },
};
`;

Deno.test("an actor without permissions gets its confined console from node:console, and node:fs and node:tty refuse the process's standard streams", async () => {
  await Deno.writeTextFile(`${ROOT}/probe.js`, PROBE);
  await using system = testSystem();
  const ref = await system.spawn(new URL(`file://${ROOT}/probe.js`), { snapshot: "never" });
  const results = await ref.ask(null) as Record<string, string>;
  assert.deepEqual(results, {
    "node:console is the confined console": "ok",
    "node:console's log is the confined one": "ok",
    "fs.writeSync(1)": "NotCapable",
    "fs.writeSync(2) through the default export": "NotCapable",
    "fs.writeFileSync(2)": "NotCapable",
    "fs.appendFileSync(1)": "NotCapable",
    "fs.ftruncateSync(1)": "NotCapable",
    "fs.readFileSync(0)": "NotCapable",
    "fs.readSync(0)": "NotCapable",
    "fs.createWriteStream fd 2": "NotCapable",
    "new fs.WriteStream fd 1": "NotCapable",
    "new fs.SyncWriteStream(2)": "NotCapable",
    "new tty.WriteStream(1)": "NotCapable",
    "new tty.ReadStream(0)": "NotCapable",
    "isatty(1) is false": "ok",
    "fs.write(2, cb)": "NotCapable",
  });
});
