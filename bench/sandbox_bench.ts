/**
 * What running agent workers in sandbox processes costs, against running
 * them as threads of the orchestrator's process, measured in the same run:
 *
 * - `sandbox.start_ms` — from `supervise` of a fresh agent group to its first
 *   step reply (a new sandbox process: Deno start, module verification, worker).
 * - `sandbox.ask_rtt_p50` — µs per step ask of an idle agent (the hop through
 *   the sandbox process and back).
 * - `sandbox.rss_mb` — MB of resident memory of a sandbox process holding one
 *   idle agent, against the growth of this process for one agent thread.
 *
 * Run alone: `deno run --unstable-worker-options -A bench/sandbox_bench.ts`.
 *
 * @module
 */
import { ActorSystem } from "../src/actor/actor_system.ts";
import { EventBus } from "../src/observability/event_bus.ts";
import type { AgentRuntime } from "../src/orchestrator/agent_runtime.ts";
import { ProcessAgentSystem } from "../src/sandbox/process_agent_system.ts";
import type { SupervisorSpec } from "../src/actor/supervisor.ts";
import { Tracer } from "../src/tracing/tracer.ts";
import { figure, median, percentile } from "./_figure.ts";

const AGENT = new URL("../tests/fixtures/test_agent.ts", import.meta.url).href;
const ASKS = 400;

function spec(id: string): SupervisorSpec {
  return {
    id,
    strategy: "one_for_one",
    restart: "temporary",
    children: [{ id: "tester", module: AGENT, executionId: id, snapshot: "never" }],
  };
}

function step(id: string) {
  return {
    type: "oao.step",
    executionId: id,
    agent: "tester",
    step: 1,
    phase: "INIT",
    iteration: 0,
    attempt: 1,
    task: {},
    state: undefined,
    peers: {},
  };
}

function rssMb(pid: number | "self"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

async function measure(runtime: AgentRuntime, id: string) {
  const t0 = performance.now();
  await runtime.supervise(spec(id));
  await runtime.ask(`${id}/tester`, step(id), { timeoutMs: 60_000 });
  const startMs = performance.now() - t0;
  const rtts: number[] = [];
  for (let i = 0; i < ASKS; i++) {
    const t = performance.now();
    await runtime.ask(`${id}/tester`, step(id), { timeoutMs: 60_000 });
    rtts.push((performance.now() - t) * 1000);
  }
  return { startMs, rttUs: percentile(rtts.slice(ASKS / 4), 0.5) };
}

async function main(): Promise<void> {
  // Warm the module verification in this process, as a running orchestrator has.
  const warm = new ActorSystem({ name: "warm" });
  await measure(warm, "warm");
  await warm.shutdown();

  const threadStarts: number[] = [], processStarts: number[] = [];
  const threadRtts: number[] = [], processRtts: number[] = [];
  let threadRss = 0, processRss = 0;
  for (let round = 0; round < 3; round++) {
    const before = rssMb("self");
    const thread = new ActorSystem({ name: `thread-${round}` });
    const t = await measure(thread, `thread-${round}`);
    threadRss = Math.max(threadRss, rssMb("self") - before);
    threadStarts.push(t.startMs);
    threadRtts.push(t.rttUs);
    await thread.shutdown();

    const sandbox = new ProcessAgentSystem({ bus: new EventBus(), tracer: new Tracer() });
    const p = await measure(sandbox, `process-${round}`);
    processRss = Math.max(processRss, rssMb(sandbox.pids[0]!));
    processStarts.push(p.startMs);
    processRtts.push(p.rttUs);
    await sandbox.shutdown();
  }
  console.log(
    JSON.stringify(figure("sandbox.start_ms", median(processStarts), "ms", median(threadStarts))),
  );
  console.log(
    JSON.stringify(figure("sandbox.ask_rtt_p50", median(processRtts), "µs", median(threadRtts))),
  );
  console.log(JSON.stringify(figure("sandbox.rss_mb", processRss, "MB", Math.max(threadRss, 0.1))));
}

if (import.meta.main) await main();
