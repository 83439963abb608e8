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

const figures: Figure[] = [];
const starts = quick ? 500 : 5_000;
const pooled = await probe("start-pool", starts);
const isolated = await probe("start-execution", quick ? 50 : 200);
figures.push(figure("execution.start_rate", pooled.rate!, "executions/s", isolated.rate!));
const pooledRedis = await probe("start-pool", starts, "redis");
const isolatedRedis = await probe("start-execution", quick ? 50 : 200, "redis");
figures.push(
  figure("execution.start_rate_redis", pooledRedis.rate!, "executions/s", isolatedRedis.rate!),
);
const waiting = await probe("wait-pool", quick ? 1_000 : 10_000);
const holding = await probe("wait-execution", quick ? 50 : 200);
figures.push(
  figure(
    "execution.waiting_rss",
    waiting.rssPerExecution! / 1024,
    "KiB/execution",
    holding.rssPerExecution! / 1024,
  ),
);
const passivated = await probe("wake-passivated", quick ? 10 : 30);
const active = await probe("wake-active", quick ? 10 : 30);
figures.push(figure("execution.wake_p50", passivated.wakeMs!, "ms", active.wakeMs!));
const shared = await probe("actors-shared", quick ? 10_000 : 100_000);
const own = await probe("actors-worker", quick ? 50 : 100);
figures.push(
  figure(
    "actor.shared_rss_per_actor",
    shared.rssPerActor! / 1024,
    "KiB/actor",
    own.rssPerActor! / 1024,
  ),
);
for (const f of figures) console.log(JSON.stringify(f));
