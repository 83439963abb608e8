/**
 * Signals benchmark (issue 14): how fast a signal reaches a waiting agent,
 * and what an execution waiting for a signal costs. Each measurement runs in
 * a process of its own (bench/_signal_probe.ts).
 *
 * - `signal.latency_p50`: from `orchestrator.signal` to the end of the step
 *   that waited (STEP_COMPLETED: the agent's code ran on with the payload),
 *   recorded and announced on `orchestrator.events`, for an execution that
 *   kept its worker, against an `ask` round trip to an active actor in the
 *   same process, measured in each round after the same idle time as the
 *   signal (goal: ratio ≤ 5). A signal comes after a pause, when the threads
 *   it crosses may have gone to sleep: asks back to back, whose threads stay
 *   awake, took 0.036 ms in one run and 0.15 ms in another on the same
 *   machine. `signal.latency_p50_vs_hot_ask` gives the ratio to those too.
 *   Each signal and each ask comes 5 ms after the last operation. The probe also prints when a reader of
 *   the log's live tail in the same thread saw it (`tailMs`): later, as that
 *   reader runs after the execution's next steps began.
 * - `signal.latency_p50_passivated`: the same for an execution that gave its
 *   worker back while it waited (activated again by the signal).
 * - `waiting.capacity`: RSS per execution with 10,000 executions waiting for
 *   a signal on one node (pooled, passivated), then all signalled (they must
 *   all complete), against 200 executions holding a worker each
 *   (`isolation: "execution"`); `waiting.capacity_redis`: the same on Redis.
 *
 * Run: `deno run --unstable-worker-options -A bench/signal_bench.ts`
 * (`--quick` for smaller counts; `REDIS_URL` for the Redis figure, default
 * redis://127.0.0.1:6379). Prints one JSON line per figure as its last lines.
 *
 * @module
 */
import { type Figure, figure } from "./_figure.ts";

const quick = Deno.args.includes("--quick");
const PROBE = new URL("./_signal_probe.ts", import.meta.url).pathname;

async function probe(mode: string, n: number, stores = "memory"): Promise<Record<string, number>> {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--unstable-worker-options", "-A", PROBE, mode, String(n), stores],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (code !== 0) throw new Error(`${mode} ${n} ${stores} exited with ${code}`);
  const result = JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").at(-1)!);
  console.error(`${mode} ${n} ${stores}: ${JSON.stringify(result)}`);
  return result;
}

const samples = quick ? 30 : 200;
const waiters = quick ? 1_000 : 10_000;
const isolated = quick ? 50 : 200;
const figures: Figure[] = [];

const active = await probe("latency-active", samples);
figures.push(figure("signal.latency_p50", active.latencyMs!, "ms", active.askMs!));
figures.push(figure("signal.latency_p50_vs_hot_ask", active.latencyMs!, "ms", active.hotAskMs!));
const passivated = await probe("latency-passivated", samples);
figures.push(
  figure("signal.latency_p50_passivated", passivated.latencyMs!, "ms", passivated.askMs!),
);
const baseline = await probe("wait-execution", isolated);
for (const stores of ["memory", "redis"]) {
  const pooled = await probe("wait-pool", waiters, stores);
  if (pooled.completed !== waiters) {
    throw new Error(`${pooled.completed} of ${waiters} waiting executions completed (${stores})`);
  }
  figures.push(
    figure(
      stores === "memory" ? "waiting.capacity" : "waiting.capacity_redis",
      pooled.rssPerExecution! / 1024,
      "KB/execution",
      baseline.rssPerExecution! / 1024,
    ),
  );
}
for (const f of figures) console.log(JSON.stringify(f));
