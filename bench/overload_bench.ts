/**
 * Overload: many clients submit executions to one `oao start` node as fast
 * as it answers, for a while; then every accepted execution is followed to
 * its end. Figures: the share of accepted executions that end in SUCCESS
 * (the goal is all of them: a busy node queues or refuses, it does not
 * fail what it accepted), the node's peak resident memory against its
 * resident memory at rest, and the POST latency (p50, p99) against the
 * latency of a lone client in the same run.
 *
 * ```sh
 * deno run -A bench/overload_bench.ts [--clients 50] [--seconds 60] [--redis redis://…]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { figure, percentile } from "./_figure.ts";
import { startOaoNode } from "./_oao_node.ts";

const ROOT = new URL("../", import.meta.url).pathname;

async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kib / 1024;
}

const TASK = JSON.stringify({ agent: "researcher", task: { topic: "overload", sources: 2 } });

async function submit(url: string): Promise<{ status: number; ms: number; id?: string }> {
  const started = performance.now();
  const response = await fetch(`${url}/executions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: TASK,
  });
  const ms = performance.now() - started;
  const body = await response.json().catch(() => ({})) as { executionId?: string };
  return body.executionId
    ? { status: response.status, ms, id: body.executionId }
    : { status: response.status, ms };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      clients: { type: "string", default: "50" },
      seconds: { type: "string", default: "60" },
      redis: { type: "string" },
    },
  });
  const clients = Number(values.clients);
  const seconds = Number(values.seconds);
  const node = await startOaoNode(ROOT, 18_700, {
    env: values.redis ? { REDIS_URL: values.redis } : {},
  });
  try {
    const restRss = await rssMiB(node.pid);
    // A lone client first: the latency the node gives when it is not loaded.
    const lone: number[] = [];
    for (let i = 0; i < 20; i++) lone.push((await submit(node.url)).ms);
    let peakRss = restRss;
    const sampler = setInterval(async () => {
      peakRss = Math.max(peakRss, await rssMiB(node.pid).catch(() => 0));
    }, 500);
    const latencies: number[] = [];
    const statuses = new Map<number, number>();
    const accepted: string[] = [];
    const until = Date.now() + seconds * 1000;
    await Promise.all(Array.from({ length: clients }, async () => {
      while (Date.now() < until) {
        const result = await submit(node.url).catch(() => ({ status: 0, ms: 0 }));
        statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
        if (result.status === 202 && "id" in result && result.id) {
          accepted.push(result.id);
          latencies.push(result.ms);
        } else if (result.status === 429) {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }));
    // Every accepted execution, followed to its end.
    const outcomes = new Map<string, number>();
    const deadline = Date.now() + 600_000;
    let pending = [...accepted];
    while (pending.length && Date.now() < deadline) {
      const next: string[] = [];
      for (const id of pending) {
        const { status } = await (await fetch(`${node.url}/executions/${id}`)).json() as {
          status: string;
        };
        if (status === "RUNNING" || status === "QUEUED") next.push(id);
        else outcomes.set(status, (outcomes.get(status) ?? 0) + 1);
      }
      pending = next;
      if (pending.length) await new Promise((r) => setTimeout(r, 500));
    }
    clearInterval(sampler);
    const success = outcomes.get("SUCCESS") ?? 0;
    console.error(
      `submits by status: ${
        JSON.stringify(Object.fromEntries(statuses))
      }; accepted ${accepted.length}; ` +
        `outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}; unfinished ${pending.length}`,
    );
    console.log(JSON.stringify(
      figure("overload.success_ratio", success / Math.max(1, accepted.length), "ratio", 1),
    ));
    console.log(JSON.stringify(figure("overload.peak_rss", peakRss, "MiB", restRss)));
    console.log(JSON.stringify(
      figure("overload.post_p50", percentile(latencies, 0.5), "ms", percentile(lone, 0.5)),
    ));
    console.log(JSON.stringify(
      figure("overload.post_p99", percentile(latencies, 0.99), "ms", percentile(lone, 0.99)),
    ));
    console.log(JSON.stringify(
      figure("overload.accepted_rate", accepted.length / seconds, "executions/s", 1),
    ));
  } finally {
    await node.stop();
  }
}

if (import.meta.main) await main();
