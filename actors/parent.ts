/**
 * Spawns children from inside its worker: `{ type: "spawn", names, module }`
 * spawns one child per name (module resolved against this file) and replies
 * with their paths; `{ type: "ask-child", name, message }` asks a child and
 * replies with its answer; `{ type: "tell", to, message }` forwards.
 *
 * @module
 */
import { defineBehavior } from "../src/actor/behavior.ts";
import type { PermissionsSpec } from "../src/actor/permissions.ts";

/** Messages the parent understands. */
export type ParentMessage =
  | { type: "spawn"; names: string[]; module: string; permissions?: PermissionsSpec }
  | { type: "ask-child"; name: string; message: unknown }
  | { type: "ask"; to: string; message: unknown; timeoutMs?: number }
  | { type: "tell"; to: string; message: unknown };

export default defineBehavior({
  initialState: null,
  async receive(state: null, message: ParentMessage, ctx) {
    switch (message.type) {
      case "spawn": {
        const paths: string[] = [];
        for (const name of message.names) {
          const options = message.permissions
            ? { name, permissions: message.permissions }
            : { name };
          paths.push(await ctx.spawn(message.module, options));
        }
        ctx.reply(paths);
        break;
      }
      case "ask-child":
        ctx.reply(await ctx.ask(`${ctx.self}/${message.name}`, message.message));
        break;
      case "ask":
        try {
          ctx.reply({
            ok: true,
            value: await ctx.ask(message.to, message.message, {
              timeoutMs: message.timeoutMs ?? 5_000,
            }),
          });
        } catch (error) {
          ctx.reply({ ok: false, error: (error as Error).name, message: (error as Error).message });
        }
        break;
      case "tell":
        ctx.tell(message.to, message.message);
        break;
    }
    return state;
  },
});
