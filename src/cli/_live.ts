/**
 * Runs one execution in the foreground — `run`, `resume` and `demo` — with
 * its progress printed as it happens (each step and tool call, restarts,
 * policy violations), cancelling it when the command's shutdown signal
 * aborts, and returns the report.
 *
 * @module
 */
import type { CommandContext } from "./_command.ts";
import { progressLine } from "./_format.ts";
import type { ExecutionReport } from "../orchestrator/execution_report.ts";
import type { Orchestrator, StartedExecution } from "../orchestrator/orchestrator.ts";

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Options of {@linkcode runLive}. */
export interface LiveOptions {
  /** Print progress lines. @default {true} */
  progress?: boolean;
  /** Where lines go. @default {ctx.out} */
  out?: (line: string) => void;
}

/**
 * Starts an execution with `start(executionId)` and follows it to the end.
 *
 * @param ctx The command's context (its signal cancels the execution).
 * @param orchestrator The orchestrator running it.
 * @param executionId The id, known before the start so no event is missed.
 * @param start Starts (or resumes) the execution under that id.
 * @param options Progress on or off, output.
 * @returns The report.
 */
export async function runLive(
  ctx: CommandContext,
  orchestrator: Orchestrator,
  executionId: string,
  start: (executionId: string) => Promise<StartedExecution>,
  options: LiveOptions = {},
): Promise<ExecutionReport> {
  const printLine = options.out ?? ((line: string) => ctx.out(line));
  // Streamed model text is written as it comes, indented under its call;
  // the next progress line starts on a line of its own.
  let streaming = false;
  const out = (line: string) => {
    if (streaming) ctx.write("\n");
    streaming = false;
    printLine(line);
  };
  const quiet = options.progress === false;
  const unsubscribe = quiet ? () => {} : orchestrator.events.subscribe((event) => {
    if (event.executionId !== executionId) return;
    const line = progressLine(event);
    if (line) out(line);
  });
  const unwatch = quiet ? () => {} : orchestrator.watchTextDeltas((delta) => {
    if (delta.executionId !== executionId) return;
    // A model's text is not the terminal's: control characters (escape
    // sequences) are dropped, newlines and tabs kept.
    const text = delta.text.replace(CONTROL, "").replaceAll("\n", "\n      ");
    ctx.write(`${streaming ? "" : "      "}${text}`);
    streaming = true;
  });
  const onAbort = () => orchestrator.cancel(executionId, "interrupted by a signal");
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const started = await start(executionId);
    if (ctx.signal.aborted) onAbort();
    return await started.done;
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    unsubscribe();
    unwatch();
    if (streaming) ctx.write("\n");
  }
}
