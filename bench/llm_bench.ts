/**
 * Model call benchmark (issue 13): what governing a model call costs.
 *
 * - `llm.overhead`: latency p50 of one `ctx.generateText` call, timed in the
 *   agent's worker — sent to the host, checked, hashed, written ahead
 *   (MODEL_CALL_STARTED), made through the AI SDK, counted against the
 *   budgets, recorded (MODEL_CALL_COMPLETED), traced as a GenAI span into a
 *   recording sink and answered — against a direct AI SDK `generateText` call
 *   from the host to the same local model server with the same provider, in
 *   the same run (goal: ratio ≤ 1.15). The server answers at once, so the
 *   figure shows the overhead at its largest share.
 * - `llm.overhead_stream`: the same with `ctx.streamText` (the deltas relayed
 *   to watchers and the side log) against the AI SDK's `streamText`.
 *
 * Rounds alternate between the two sides after a warm-up; each side's figure
 * is the median of its rounds' p50s.
 *
 * Run: `deno run --unstable-worker-options --unstable-kv -A bench/llm_bench.ts`
 * (`--quick` for fewer calls). Prints one JSON line per figure as its last lines.
 *
 * @module
 */
import { generateText, streamText } from "ai";
import { InMemoryEventStore } from "../src/events/in_memory_event_store.ts";
import { startLocalModelServer } from "../src/model/local_model_server.ts";
import { ModelProviders } from "../src/model/providers.ts";
import { Orchestrator } from "../src/orchestrator/orchestrator.ts";
import type { SpanData } from "../src/tracing/span_data.ts";
import { Tracer } from "../src/tracing/tracer.ts";
import { type Figure, figure, median, percentile } from "./_figure.ts";

const quick = Deno.args.includes("--quick");
const CALLS = quick ? 100 : 400;
const ROUNDS = quick ? 3 : 7;
const KEY = "sk-bench-local";
const AGENT = new URL("./_llm_caller.ts", import.meta.url);

await using server = startLocalModelServer({ apiKey: KEY });
const providerOptions = { openai: { apiKey: KEY, baseURL: server.baseURL }, env: () => undefined };
const { model } = new ModelProviders(providerOptions).resolve("openai:gpt-4o-mini");
let spans = 0;
const orchestrator = new Orchestrator({
  eventStore: new InMemoryEventStore(),
  tracer: new Tracer({
    export: (batch: SpanData[]) => void (spans += batch.length),
    flush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  }),
  agents: [{ name: "llm-caller", module: AGENT, version: "1.0.0" }],
  models: { providers: providerOptions },
  policy: { maxSteps: 10, maxTokens: 1e9, timeoutMs: 600_000, stepTimeoutMs: 600_000 },
});

/** Latencies in ms of `CALLS` direct AI SDK calls. */
async function direct(stream: boolean): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const started = performance.now();
    if (stream) {
      const result = streamText({ model, prompt: `question ${i}` });
      for await (const _ of result.textStream) { /* read it all */ }
      await result.finalStep;
    } else {
      await generateText({ model, prompt: `question ${i}` });
    }
    latencies.push(performance.now() - started);
  }
  return latencies;
}

/** Latencies in ms of `CALLS` governed calls, timed in the agent. */
async function governed(stream: boolean): Promise<number[]> {
  const report = await orchestrator.run("llm-caller", { calls: CALLS, stream });
  if (report.status !== "SUCCESS") {
    throw new Error(`governed round: ${JSON.stringify(report.error)}`);
  }
  return (report.output as { latencies: number[] }).latencies;
}

async function measure(stream: boolean): Promise<{ governed: number; direct: number }> {
  const sides = { governed: [] as number[], direct: [] as number[] };
  await direct(stream);
  await governed(stream);
  for (let round = 0; round < ROUNDS; round++) {
    sides.direct.push(percentile(await direct(stream), 0.5));
    sides.governed.push(percentile(await governed(stream), 0.5));
  }
  console.error(`stream=${stream}: ${JSON.stringify(sides)}`);
  return { governed: median(sides.governed), direct: median(sides.direct) };
}

const figures: Figure[] = [];
const plain = await measure(false);
figures.push(figure("llm.overhead", plain.governed, "ms", plain.direct));
const streamed = await measure(true);
figures.push(figure("llm.overhead_stream", streamed.governed, "ms", streamed.direct));
await orchestrator.close();
console.error(`spans recorded: ${spans}`);
for (const f of figures) console.log(JSON.stringify(f));
