/**
 * Density benchmark (issue 12): what a waiting execution and an idle actor
 * cost, and how fast executions start, with pooled workers and passivation
 * against one worker per execution (`isolation: "execution"`) in the same run.
 * Each measurement runs in a process of its own (bench/_density_probe.ts).
 *
 * - `execution.start_rate`: executions of the bench agent (3 steps, one tool
 *   call, in-memory stores) started and completed per second, pooled against
 *   `isolation: "execution"`.
 * - `execution.start_rate_redis`: the same on Redis stores (REDIS_URL).
 * - `execution.waiting_rss`: RSS per execution with 10,000 executions awaiting
 *   a 30 s tool (passivated), against 200 in `isolation: "execution"` mode
 *   holding their workers.
 * - `execution.wake_p50`: from a tool's result to the end of the step that
 *   awaited it, passivated against active.
 * - `actor.shared_rss_per_actor`: RSS per idle actor, 100,000 in shared pooled
 *   workers against 100 with a worker each.
 *
 * Run: `deno run --unstable-worker-options -A bench/density_bench.ts`
 * (`--quick` for smaller counts). Prints one JSON line per figure as its last lines.
 *
 * @module
 */
import { type Figure, figure } from "./_figure.ts";

const quick = Deno.args.includes("--quick");
const PROBE = new URL("./_density_probe.ts", import.meta.url).pathname;

async function probe(mode: string, n: number, stores = "memory"): Promise<Record<string, number>> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--unstable-worker-options", "-A", PROBE, mode, String(n), stores],
    stdout: "piped",
    stderr: "inherit",
  });
  const { code, stdout } = await child.output();
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  if (code !== 0) throw new Error(`${mode} ${n} ${stores} exited with ${code}`);
  const result = JSON.parse(lines.at(-1)!) as Record<string, number>;
  console.error(`${mode} ${n} ${stores}: ${JSON.stringify(result)}`);
  return result;
}

// Each figure: its probe and its baseline's (mode, count, stores), the result
// field compared, and the factor to its unit.
interface Spec {
  bench: string;
  unit: string;
  field: string;
  scale: number;
  value: [string, number, string?];
  baseline: [string, number, string?];
}
const starts = quick ? 500 : 5_000;
const isolatedStarts = quick ? 50 : 200;
const SPECS: Spec[] = [
  {
    bench: "execution.start_rate",
    unit: "executions/s",
    field: "rate",
    scale: 1,
    value: ["start-pool", starts],
    baseline: ["start-execution", isolatedStarts],
  },
  {
    bench: "execution.start_rate_redis",
    unit: "executions/s",
    field: "rate",
    scale: 1,
    value: ["start-pool", starts, "redis"],
    baseline: ["start-execution", isolatedStarts, "redis"],
  },
  {
    bench: "execution.waiting_rss",
    unit: "KiB/execution",
    field: "rssPerExecution",
    scale: 1 / 1024,
    value: ["wait-pool", quick ? 1_000 : 10_000],
    baseline: ["wait-execution", quick ? 50 : 200],
  },
  {
    bench: "execution.wake_p50",
    unit: "ms",
    field: "wakeMs",
    scale: 1,
    value: ["wake-passivated", quick ? 10 : 30],
    baseline: ["wake-active", quick ? 10 : 30],
  },
  {
    bench: "actor.shared_rss_per_actor",
    unit: "KiB/actor",
    field: "rssPerActor",
    scale: 1 / 1024,
    value: ["actors-shared", quick ? 10_000 : 100_000],
    baseline: ["actors-worker", quick ? 50 : 100],
  },
];

const figures: Figure[] = [];
for (const spec of SPECS) {
  const value = (await probe(...spec.value))[spec.field]!;
  const baseline = (await probe(...spec.baseline))[spec.field]!;
  figures.push(figure(spec.bench, value * spec.scale, spec.unit, baseline * spec.scale));
}
for (const f of figures) console.log(JSON.stringify(f));
