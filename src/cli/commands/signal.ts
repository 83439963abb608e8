/**
 * `oao signal <id> <name> [payload]`: sends a signal to an execution — one
 * append to its event log, taken by the agent's `ctx.waitForSignal(name)` in
 * whichever process runs the execution (or when it is resumed).
 *
 * @module
 */
import { type Command, EXIT_FAILURE, EXIT_OK, UsageError } from "../_command.ts";
import { createRuntime, OBSERVABILITY_ENV, QUERY_RUNTIME, STORE_ENV } from "../_runtime.ts";
import { notFoundMessage } from "../_not_found.ts";
import {
  ExecutionFinishedError,
  ExecutionNotFoundError,
  TooManySignalsError,
  ValueTooLargeError,
} from "../../errors.ts";
import { sendSignal } from "../../orchestrator/_signals.ts";

/**
 * The `signal` command.
 *
 * @example
 * ```ts
 * import { signalCommand } from "./signal.ts";
 * import { renderCommandHelp } from "../_command.ts";
 * console.assert(renderCommandHelp(signalCommand).includes("payload"));
 * ```
 */
export const signalCommand: Command = {
  name: "signal",
  summary: "Send a signal (a JSON payload) to an execution",
  description: [
    "Appends SIGNAL_RECEIVED to the execution's event log: the agent's",
    "ctx.waitForSignal(name) takes it, in whichever process runs the execution, or when it",
    "is resumed. Signals of one name are taken in order, each once. Needs the execution's",
    "stores (the default Deno KV file, or REDIS_URL). Exit code 0 when recorded, 1 when the",
    "execution is unknown or finished, 2 for bad input (a name or payload that is not valid,",
    "a payload over 64 KiB).",
  ].join("\n"),
  args: [
    { name: "id", description: "Execution id" },
    { name: "name", description: 'Signal name: 1–100 letters, digits, "_", ".", ":" or "-"' },
    { name: "payload", description: "JSON payload (default: null)", optional: true },
  ],
  flags: [],
  env: [...STORE_ENV, ...OBSERVABILITY_ENV],
  examples: [
    `signal exec-mwz08qmm-e67d12d24b approved '{"by":"alice"}'`,
    "signal exec-mwz08qmm-e67d12d24b wake",
  ],
  async run(ctx) {
    const [id, name, text] = ctx.args as [string, string, string | undefined];
    let payload: unknown = null;
    if (text !== undefined) {
      try {
        payload = JSON.parse(text);
      } catch (error) {
        throw new UsageError(
          `Invalid payload: expected JSON (${(error as Error).message})`,
          "signal",
        );
      }
    }
    const runtime = await createRuntime(ctx, QUERY_RUNTIME);
    try {
      const seq = await sendSignal(runtime.eventStore, id, { name, payload });
      ctx.out(`Signal "${name}" recorded for ${id} (event ${seq})`);
      return EXIT_OK;
    } catch (error) {
      if (error instanceof ExecutionNotFoundError) {
        ctx.err(`error: ${notFoundMessage(id, runtime.storage)}`);
        return EXIT_FAILURE;
      }
      if (error instanceof ExecutionFinishedError || error instanceof TooManySignalsError) {
        ctx.err(`error: ${error.message}`);
        return EXIT_FAILURE;
      }
      if (error instanceof TypeError || error instanceof ValueTooLargeError) {
        throw new UsageError(error.message, "signal");
      }
      throw error;
    } finally {
      await runtime.close();
    }
  },
};
