/**
 * `oao events <id>`: an execution's timeline, one line per event;
 * `--follow` streams new events until the execution ends.
 *
 * @module
 */
import { type Command, EXIT_FAILURE, EXIT_OK } from "../_command.ts";
import { FINAL_EVENT_TYPES, timelineLine } from "../_format.ts";
import { notFoundMessage } from "../_not_found.ts";
import { createRuntime, OBSERVABILITY_ENV, QUERY_RUNTIME, STORE_ENV } from "../_runtime.ts";
import type { StoredEvent } from "../../events/event_store.ts";

/** The `events` command. */
export const eventsCommand: Command = {
  name: "events",
  summary: "Print an execution's timeline (--follow to stream it live)",
  description: [
    "One line per event: time since the first event, sequence number, what happened.",
    "With --follow, new events are printed as they are appended, until the execution",
    "ends (or SIGINT). Exit code 1 when there is no such execution.",
  ].join("\n"),
  args: [{ name: "id", description: "Execution id" }],
  flags: [
    {
      name: "after",
      type: "integer",
      min: 0,
      valueName: "seq",
      description: "Only events after this sequence number",
      default: 0,
    },
    {
      name: "follow",
      short: "f",
      type: "boolean",
      description: "Keep printing new events until the execution ends",
    },
    { name: "json", type: "boolean", description: "One JSON object per line (the stored events)" },
  ],
  env: [...STORE_ENV, ...OBSERVABILITY_ENV],
  examples: ["events exec-mwz08qmm-e67d12d24b", "events exec-mwz08qmm-e67d12d24b --follow --json"],
  async run(ctx) {
    const [id] = ctx.args as [string];
    const runtime = await createRuntime(ctx, QUERY_RUNTIME);
    try {
      const store = runtime.eventStore;
      const first = await store.readRange(id, { limit: 1 });
      if (first.length === 0) {
        ctx.err(`error: ${notFoundMessage(id, runtime.storage)}`);
        return EXIT_FAILURE;
      }
      const origin = first[0]!.time;
      const json = ctx.boolean("json");
      const print = (event: StoredEvent) => {
        if (json) ctx.out(JSON.stringify(event));
        else ctx.out(timelineLine(event, origin));
      };
      const after = ctx.integer("after") ?? 0;
      const backlog = await store.readAfter(id, after);
      backlog.forEach(print);
      if (!ctx.boolean("follow") || backlog.some((e) => FINAL_EVENT_TYPES.includes(e.type))) {
        return EXIT_OK;
      }
      const stop = new AbortController();
      const onAbort = () => stop.abort();
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      try {
        const from = backlog.at(-1)?.seq ?? after;
        for await (const event of store.subscribe(id, { afterSeq: from, signal: stop.signal })) {
          print(event);
          if (FINAL_EVENT_TYPES.includes(event.type)) break;
        }
      } finally {
        ctx.signal.removeEventListener("abort", onAbort);
        stop.abort();
      }
      return EXIT_OK;
    } finally {
      await runtime.close();
    }
  },
};
