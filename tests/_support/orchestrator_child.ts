/**
 * Starts a fixture process (`tests/fixtures/*_process.ts`, by default
 * `orchestrator_process.ts`) as a real `deno run` process, for the crash,
 * resume and ownership tests. Each fixture takes `<run|resume> <executionId>
 * <json options>` and prints its last line as JSON.
 *
 * @module
 */
const FIXTURE = new URL("../fixtures/orchestrator_process.ts", import.meta.url).pathname;

/**
 * Spawns an orchestrator process that runs or resumes one execution.
 *
 * @param mode `run` starts the execution, `resume` continues it (a fixture
 *   may have others: `workflow_process.ts`).
 * @param executionId The execution.
 * @param options The fixture's options (see its header).
 * @param fixture Path of the fixture. @default {orchestrator_process.ts}
 * @returns The child, with stdout and stderr piped.
 */
export function orchestratorChild(
  mode: string,
  executionId: string,
  options: unknown,
  fixture: string = FIXTURE,
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-worker-options",
      fixture,
      mode,
      executionId,
      JSON.stringify(options),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * The last JSON line a fixture process printed.
 *
 * @param output The process's output.
 * @returns The parsed line.
 */
export function lastJsonLine<T>(output: Deno.CommandOutput): T {
  const text = new TextDecoder().decode(output.stdout).trim();
  return JSON.parse(text.split("\n").at(-1) ?? "null") as T;
}
