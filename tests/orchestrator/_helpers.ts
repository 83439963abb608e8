// Shared set-up of the orchestrator tests.
import { exampleTools } from "../../actors/example_tools.ts";
import type { StoredEvent } from "../../src/events/event_store.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import { Orchestrator, type OrchestratorOptions } from "../../src/orchestrator/orchestrator.ts";

/** Side effects of the `effect` tool, counted outside the runtime. */
export class EffectLog {
  readonly calls: unknown[] = [];
  count(match?: (args: unknown) => boolean): number {
    return match ? this.calls.filter(match).length : this.calls.length;
  }
}

/** An orchestrator with the example agents, the test agent and test tools. */
export function testOrchestrator(options: OrchestratorOptions = {}): Orchestrator & {
  effects: EffectLog;
  [Symbol.asyncDispose](): Promise<void>;
} {
  const effects = new EffectLog();
  const orchestrator = new Orchestrator({
    retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20 },
    ...options,
    tools: [
      ...exampleTools,
      defineTool({
        name: "effect",
        run: (args: unknown) => {
          effects.calls.push(args);
          return { n: effects.calls.length };
        },
      }) as never,
      defineTool({
        name: "hang",
        run: (_args: unknown, ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
          ),
      }) as never,
      defineTool({
        name: "fail_tool",
        run: () => {
          throw new Error("the tool failed on purpose");
        },
      }) as never,
      ...(options.tools ?? []),
    ],
    agents: [
      { name: "researcher", module: "actors/research_agent.ts", version: "1.0.0" },
      {
        name: "researcher-with-critic",
        module: "actors/research_agent.ts",
        version: "1.0.0",
        peers: ["critic"],
      },
      { name: "critic", module: "actors/critic_agent.ts", version: "1.0.0" },
      { name: "flaky", module: "actors/flaky_agent.ts", version: "1.0.0" },
      { name: "runaway", module: "actors/runaway_agent.ts", version: "1.0.0" },
      { name: "tester", module: "tests/fixtures/test_agent.ts", version: "1.0.0" },
      ...(options.agents ?? []),
    ],
  }) as Orchestrator & { effects: EffectLog; [Symbol.asyncDispose](): Promise<void> };
  orchestrator.effects = effects;
  orchestrator[Symbol.asyncDispose] = () => orchestrator.close();
  return orchestrator;
}

/** Types of the events of an execution, in order, runtime events left out. */
export function executionTypes(events: StoredEvent[]): string[] {
  return events.map((e) => e.type).filter((t) =>
    !t.startsWith("ACTOR_") && !t.startsWith("MESSAGE_")
  );
}
