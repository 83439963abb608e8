/**
 * Soak of the worker → host control protocol under fuzzed messages, with
 * the valid-message rate measured in the same run as its baseline.
 *
 * - `protocol.fuzz.soak` — control messages per second that fuzz agents
 *   (`tests/fixtures/hostile/fuzz_agent.ts`) post while the host checks and
 *   handles them: each step posts `--per-step` messages (half valid kinds
 *   with weird payloads, half fuzzed: wrong types, huge and non-finite
 *   numbers, huge strings, deep nesting, prototype keys, missing fields);
 *   the first message the host refuses fails the actor, which is restarted
 *   and posts a new batch (what the worker had posted after the refused
 *   message goes with it, unread). Executions run `--executions` at a time
 *   until `--messages` were posted (counted by the host: each batch is
 *   announced by a log record it handles); the figure is messages posted /
 *   wall time, restarts included. Baseline: the same agents posting valid
 *   messages (logs and spans), each step waiting until the host handled its
 *   batch. The ratio says how fast the host absorbs hostile traffic against
 *   ordinary traffic.
 *
 * While the fuzz runs, a normal execution is held running; it must then
 * complete, every fuzzed execution must end, and the totals must stay finite
 * and >= 0: otherwise the script exits 1 (with the seed to reproduce).
 *
 * `deno run --unstable-worker-options -A bench/protocol_fuzz_soak.ts --messages 100000`
 * (`--help` lists the flags). The last line is JSON.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { LogRecord } from "@logtape/logtape";
import { configureLogging, resetLogging } from "../src/logging/mod.ts";
import { Orchestrator } from "../src/orchestrator/orchestrator.ts";
import { BATCH_MARKER, type FuzzTask } from "../tests/fixtures/hostile/fuzz_agent.ts";
import { mixSeed } from "../tests/fixtures/hostile/_fuzz_messages.ts";
import { echo, gate } from "../tests/fixtures/hostile/gate_tools.ts";
import { figure } from "./_figure.ts";

const HELP = `Usage: deno run --unstable-worker-options -A bench/protocol_fuzz_soak.ts [flags]

  --messages <n>     messages posted per phase, fuzzed and valid (default 20000)
  --executions <n>   executions running at a time (default 4)
  --per-step <n>     messages an agent posts per step (default 2000)
  --seed <n>         seed of the fuzzed messages (default random; printed)
  --help             this help

No environment variables are read.`;

const FUZZ_AGENT = new URL("../tests/fixtures/hostile/fuzz_agent.ts", import.meta.url);
const VICTIM_AGENT = new URL("../tests/fixtures/hostile/victim_agent.ts", import.meta.url);
// A step the host never answers ends at this limit; a whole execution must end within END_MS.
const STEP_TIMEOUT_MS = 5_000;
const END_MS = 120_000;

interface Options {
  messages: number;
  executions: number;
  perStep: number;
  seed: number;
}

function count(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`Invalid --${flag} "${value}": expected a positive integer`);
  }
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      messages: { type: "string", default: "20000" },
      executions: { type: "string", default: "4" },
      "per-step": { type: "string", default: "2000" },
      seed: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const options: Options = {
    messages: count(values.messages, "messages"),
    executions: count(values.executions, "executions"),
    perStep: count(values["per-step"], "per-step"),
    seed: values.seed === undefined
      ? crypto.getRandomValues(new Uint32Array(1))[0]!
      : count(values.seed, "seed"),
  };
  console.log(`# seed ${options.seed}`);
  const posted = { valid: 0, fuzz: 0 };
  await configureLogging({
    level: "DEBUG",
    sink: (record: LogRecord) => {
      const { fuzzCount, fuzzMode } = record.properties;
      if (record.rawMessage !== BATCH_MARKER || typeof fuzzCount !== "number") return;
      if (fuzzMode === "valid") posted.valid += fuzzCount;
      else posted.fuzz += fuzzCount;
    },
  });
  const dir = await Deno.makeTempDir({ prefix: "oao-fuzz-soak-" });
  const orchestrator = new Orchestrator({
    retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 20 },
    agents: [
      { name: "fuzz", module: FUZZ_AGENT },
      { name: "victim", module: VICTIM_AGENT },
    ],
    tools: [gate as never, echo as never],
  });
  try {
    const baseline = await phase(orchestrator, options, "valid", () => posted.valid);
    const gatePath = `${dir}/gate`;
    const victim = await orchestrator.start("victim", { gate: gatePath });
    const fuzz = await phase(orchestrator, options, "fuzz", () => posted.fuzz, [
      `${victim.executionId}/victim`,
    ]);
    await Deno.writeTextFile(gatePath, "open");
    const victimReport = await within(victim.done, 30_000, "the concurrent normal execution");
    const problems = [
      ...fuzz.problems,
      ...baseline.problems,
      ...(victimReport.status === "SUCCESS"
        ? []
        : [`the concurrent normal execution ended ${victimReport.status}`]),
    ];
    if (Object.hasOwn(Object.prototype, "polluted")) problems.push("Object.prototype polluted");
    console.log(
      `# valid: ${baseline.messages} messages in ${
        baseline.ms.toFixed(0)
      } ms (${baseline.executions} executions); ` +
        `fuzz: ${fuzz.messages} messages in ${
          fuzz.ms.toFixed(0)
        } ms (${fuzz.executions} executions: ` +
        `${fuzz.statuses.SUCCESS ?? 0} SUCCESS, ${fuzz.statuses.FAILED ?? 0} FAILED, ` +
        `${fuzz.violations} protocol violations); ${options.perStep} messages per step, ` +
        `${options.executions} executions at a time`,
    );
    if (problems.length > 0) {
      for (const p of problems) console.log(`# FAILED (seed ${options.seed}): ${p}`);
      return 1;
    }
    const value = fuzz.messages / (fuzz.ms / 1000);
    const base = baseline.messages / (baseline.ms / 1000);
    console.log(JSON.stringify(figure("protocol.fuzz.soak", value, "msg/s", base)));
    return 0;
  } finally {
    await orchestrator.close();
    await resetLogging();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

interface PhaseResult {
  messages: number;
  ms: number;
  executions: number;
  statuses: Record<string, number>;
  violations: number;
  problems: string[];
}

// Runs executions of the fuzz agent in `mode`, `executions` at a time, until
// `posted()` reaches the target; waits for the last ones to end.
async function phase(
  orchestrator: Orchestrator,
  options: Options,
  mode: "valid" | "fuzz",
  posted: () => number,
  targets: string[] = [],
): Promise<PhaseResult> {
  const result: PhaseResult = {
    messages: 0,
    ms: 0,
    executions: 0,
    statuses: {},
    violations: 0,
    problems: [],
  };
  const before = posted();
  const started = performance.now();
  const running = new Set<Promise<void>>();
  let n = 0;
  while (posted() - before < options.messages) {
    if (n >= 20 && posted() === before) {
      result.problems.push(`${n} ${mode} executions posted nothing: the agent does not run`);
      break;
    }
    if (running.size >= options.executions) {
      await Promise.race(running);
      continue;
    }
    const task: FuzzTask = {
      seed: mixSeed(options.seed, mode, n++),
      messages: options.perStep,
      mode,
      targets,
    };
    const { executionId, done } = await orchestrator.start("fuzz", task, {
      policy: { stepTimeoutMs: STEP_TIMEOUT_MS },
    });
    result.executions++;
    const settled: Promise<void> = within(done, END_MS, `execution ${executionId}`)
      .then(async (report) => {
        result.statuses[report.status] = (result.statuses[report.status] ?? 0) + 1;
        const events = await orchestrator.eventStore.readRange(executionId);
        result.violations += events.filter((e) =>
          e.type === "ACTOR_FAILED" && e.data?.reason === "protocol_violation"
        ).length;
        const totals = [report.tokens, report.toolCalls, report.totalSteps];
        if (!totals.every((t) => typeof t === "number" && Number.isFinite(t) && t >= 0)) {
          result.problems.push(`${executionId}: totals ${JSON.stringify(totals)}`);
        }
        if (mode === "valid" && report.status !== "SUCCESS") {
          result.problems.push(`${executionId} (valid messages only) ended ${report.status}`);
        }
      }, (error: Error) => void result.problems.push(error.message))
      .finally(() => void running.delete(settled));
    running.add(settled);
  }
  await Promise.all(running);
  result.ms = performance.now() - started;
  result.messages = posted() - before;
  return result;
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

if (import.meta.main) Deno.exit(await main());
