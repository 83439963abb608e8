/**
 * Starts `tests/fixtures/orchestrator_process.ts` as a real `deno run`
 * process (for the crash, resume and ownership tests).
 *
 * @module
 */
const FIXTURE = new URL("../fixtures/orchestrator_process.ts", import.meta.url).pathname;

/**
 * Spawns an orchestrator process that runs or resumes one execution.
 *
 * @param mode `run` starts the execution, `resume` continues it.
 * @param executionId The execution.
 * @param options The fixture's options (see its header).
 * @returns The child, with stdout and stderr piped.
 */
export function orchestratorChild(
  mode: "run" | "resume",
  executionId: string,
  options: Record<string, unknown>,
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-worker-options",
      FIXTURE,
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
