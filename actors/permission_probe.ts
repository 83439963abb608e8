/**
 * Tries an operation that needs a Deno permission and replies with what
 * happened: `{ ok: true }` or `{ ok: false, error: "<name>: <message>" }`.
 * Messages: `{ op: "env" | "read" | "write" | "net" | "run" }`.
 *
 * @module
 */
import { defineBehavior } from "../src/actor/behavior.ts";

/** Operations the probe tries. */
export type ProbeOp = "env" | "read" | "write" | "net" | "run";

async function attempt(op: ProbeOp): Promise<void> {
  switch (op) {
    case "env":
      Deno.env.get("HOME");
      return;
    case "read":
      await Deno.readTextFile("/etc/hostname");
      return;
    case "write":
      await Deno.writeTextFile("/tmp/oao-permission-probe", "x");
      return;
    case "net": {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: 9 });
      conn.close();
      return;
    }
    case "run":
      await new Deno.Command("true").output();
      return;
  }
}

export default defineBehavior({
  initialState: null,
  async receive(state: null, message: { op: ProbeOp }, ctx) {
    try {
      await attempt(message.op);
      ctx.reply({ ok: true });
    } catch (error) {
      const e = error as Error;
      ctx.reply({ ok: false, error: `${e.name}: ${e.message}` });
    }
    return state;
  },
});
