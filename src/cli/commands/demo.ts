/**
 * `oao demo`: what OAO is for, in a few seconds, with no Redis and no
 * network — a multi-step agent with tools and a peer, an agent whose worker
 * crashes mid-step and is restarted from its snapshot (`RETRY_ATTEMPTED`),
 * a runaway agent stopped by its policy (`POLICY_VIOLATION`), and an LLM
 * agent whose model — a local model server speaking the OpenAI wire format,
 * started here: no key, no network — asks for a tool before it answers; and
 * an agent whose policy makes a tool wait for a person's approval, which the
 * demo gives itself through the HTTP API (a server on loopback, started here)
 * after printing what the execution waits for.
 * Progress is printed live; the reports and a timeline follow.
 *
 * @module
 */
import { type Command, type CommandContext, EXIT_FAILURE, EXIT_OK } from "../_command.ts";
import { reportLines, timelineLines } from "../_format.ts";
import { runLive } from "../_live.ts";
import { createRuntime, OBSERVABILITY_ENV } from "../_runtime.ts";
import type { ExecutionReport } from "../../orchestrator/execution_report.ts";
import type { PolicyLimits } from "../../orchestrator/policy.ts";
import { newExecutionId, type Orchestrator } from "../../orchestrator/orchestrator.ts";
import { LocalBackend } from "../../orchestrator/local_backend.ts";
import { startApiServer } from "../../api/server.ts";
import { startLocalModelServer } from "../../model/local_model_server.ts";
import { readExampleLlmAgents } from "../_agents.ts";

interface _Scene {
  title: string;
  agent: string;
  task: unknown;
  policy?: Partial<PolicyLimits>;
  /** Approves the calls that wait for approval, through the HTTP API. */
  approve?: boolean;
  expect: (report: ExecutionReport, types: string[]) => boolean;
}

const SCENES: readonly _Scene[] = [
  {
    title: 'A multi-step agent using tools: "researcher" plans, searches, fetches, reviews, ' +
      'and asks its "critic" peer',
    agent: "researcher",
    task: { topic: "actor systems", sources: 2 },
    expect: (r) => r.status === "SUCCESS" && r.toolCalls > 0,
  },
  {
    title: 'A crash mid-run: "flaky" kills its own worker in the middle of a step; the ' +
      "supervisor restarts it from its snapshot and the step finishes",
    agent: "flaky",
    task: { items: 3 },
    expect: (r, types) =>
      r.status === "SUCCESS" && types.includes("RETRY_ATTEMPTED") &&
      types.includes("ACTOR_RESTARTED"),
  },
  {
    title: 'A runaway agent: "runaway" never decides it is done; its policy ' +
      "(maxToolCalls 3) stops it",
    agent: "runaway",
    task: {},
    policy: { maxToolCalls: 3 },
    expect: (r, types) => r.status === "FAILED" && types.includes("POLICY_VIOLATION"),
  },
  {
    title: 'An LLM agent: "assistant" (llmAgent) asks its model, which asks for the search ' +
      "tool, then streams its answer; every model call is journaled with its tokens and cost",
    agent: "assistant",
    task: "What are actor systems good for?",
    expect: (r, types) =>
      r.status === "SUCCESS" && types.includes("MODEL_CALL_COMPLETED") &&
      types.includes("TOOL_CALL_SUCCESS"),
  },
  {
    title: 'A person in the loop: the policy says "fetch" needs approval; the execution ' +
      "waits (APPROVAL_REQUESTED) until the demo approves it through the HTTP API",
    agent: "researcher",
    task: { topic: "approvals", sources: 1 },
    policy: { requireApproval: ["fetch"] },
    approve: true,
    expect: (r, types) =>
      r.status === "SUCCESS" && types.includes("APPROVAL_REQUESTED") &&
      types.includes("APPROVAL_DECIDED"),
  },
];

// Approves, through the HTTP API, every call of the execution that waits for
// approval, printing what it waits for first; until the execution ends.
async function approveOverHttp(
  ctx: CommandContext,
  orchestrator: Orchestrator,
  executionId: string,
  api: { url: string; token: string },
): Promise<void> {
  const done = new Set<string>();
  while (!ctx.signal.aborted) {
    const view = await orchestrator.status(executionId).catch(() => undefined);
    if (view && view.status !== "RUNNING") return;
    const waiting = view?.waitingFor;
    if (waiting?.kind === "approval" && !done.has(waiting.callId)) {
      done.add(waiting.callId);
      const call = view!.toolCalls.length;
      const short = waiting.callId.slice(0, 12);
      ctx.out(
        `  waits for approval of tool "${waiting.tool}" (call ${short}, after ${call} tool calls)`,
      );
      const path = `/executions/${executionId}/approvals/${short}`;
      const body = { decision: "approve", reason: "the demo approves its own request" };
      ctx.out(`  POST ${path} ${JSON.stringify(body)}  (as API token "demo-operator")`);
      const response = await fetch(`${api.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${api.token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await response.json() as { by?: string; error?: { message: string } };
      ctx.out(
        `  → ${response.status} ${
          response.ok ? `approved by "${answer.by}"` : answer.error?.message ?? ""
        }`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The `demo` command. */
export const demoCommand: Command = {
  name: "demo",
  summary:
    "Run the bundled example agents: tools, a crash and restart, a policy stop, an LLM, an approval",
  description: [
    "Five executions on the in-memory stores (REDIS_URL is ignored; no network):",
    "  1. researcher — a multi-step agent using tools and a peer agent",
    "  2. flaky      — its worker crashes mid-step, is restarted from its snapshot",
    "                  (RETRY_ATTEMPTED) and finishes; completed tool calls are not re-run",
    "  3. runaway    — never finishes on its own; its policy stops it (POLICY_VIOLATION)",
    "  4. assistant  — an LLM agent; its model (a local model server started here, no key)",
    "                  asks for a tool, then answers (MODEL_CALL_COMPLETED)",
    '  5. researcher — its policy makes "fetch" wait for a person\'s approval; the demo',
    "                  approves it through the HTTP API (a server on loopback, started here)",
    "Progress is printed live, then the reports and the crash's timeline. Traces are",
    "exported when OTEL_EXPORTER_OTLP_ENDPOINT is set. Exit code 0 when every scene",
    "ends as described, 1 otherwise.",
  ].join("\n"),
  flags: [{ name: "timelines", type: "boolean", description: "Print the timeline of every scene" }],
  defaultLogLevel: "OFF",
  env: OBSERVABILITY_ENV,
  examples: ["demo", "demo --timelines"],
  async run(ctx) {
    const runtime = await createRuntime(ctx, {
      memory: true,
      loadAgents: "examples",
      announce: false,
    });
    const results: { scene: _Scene; report: ExecutionReport; ok: boolean }[] = [];
    // The assistant's model: asks for a search first, then answers from it.
    await using model = startLocalModelServer();
    model.script(
      { toolCalls: [{ name: "search", input: { query: "actor systems" } }] },
      {
        text: "Actor systems suit concurrent, failure-prone work: each actor owns its state " +
          "and supervisors restart what fails (local model, no network).",
      },
    );
    try {
      const orchestrator = runtime.createOrchestrator({
        retry: { attempts: 3, initialDelayMs: 20, maxDelayMs: 200 },
        models: { providers: { openai: { baseURL: model.baseURL, apiKey: "local-demo" } } },
      });
      for (const agent of await readExampleLlmAgents()) orchestrator.registerAgent(agent);
      // The HTTP API the approval scene decides through, with a named token.
      const token = crypto.randomUUID();
      const server = startApiServer({
        backend: new LocalBackend(orchestrator),
        eventStore: runtime.eventStore,
        tokens: [{ name: "demo-operator", token }],
        port: 0,
      });
      await using _server = { [Symbol.asyncDispose]: () => server.shutdown() };
      ctx.out("OAO demo — bundled example agents on the in-memory stores (no Redis, no network)");
      for (const [i, scene] of SCENES.entries()) {
        if (ctx.signal.aborted) break;
        const executionId = newExecutionId();
        ctx.out("");
        ctx.out(`${i + 1}/${SCENES.length}  ${scene.title}`);
        ctx.out(`  ${scene.agent} ${JSON.stringify(scene.task)} → ${executionId}`);
        const approving = scene.approve
          ? approveOverHttp(ctx, orchestrator, executionId, { url: server.url, token })
          : undefined;
        const report = await runLive(
          ctx,
          orchestrator,
          executionId,
          (id) =>
            orchestrator.start(scene.agent, scene.task, {
              executionId: id,
              ...(scene.policy ? { policy: scene.policy } : {}),
            }),
        );
        await approving;
        const types = (await runtime.eventStore.readRange(executionId)).map((e) => e.type);
        results.push({ scene, report, ok: scene.expect(report, types) });
      }
      ctx.out("");
      ctx.out("Reports");
      for (const { report, ok } of results) {
        reportLines(report).forEach((line, j) =>
          ctx.out(j === 0 && !ok ? `${line}  (unexpected)` : line)
        );
      }
      const shown = ctx.boolean("timelines")
        ? results
        : results.filter((r) => r.scene.agent === "flaky");
      for (const { report } of shown) {
        const events = await runtime.eventStore.readRange(report.executionId);
        ctx.out("");
        ctx.out(`Timeline of ${report.executionId} (${report.agent}), from its event log`);
        timelineLines(events).forEach((line) => ctx.out(line));
      }
      const passed = results.length === SCENES.length && results.every((r) => r.ok);
      ctx.out("");
      ctx.out(
        passed
          ? "Every scene ended as described. Next: `deno task start` serves the HTTP API and the console at http://127.0.0.1:8080/ui (see README)."
          : "Some scenes did not end as described (marked above).",
      );
      return passed ? EXIT_OK : EXIT_FAILURE;
    } finally {
      await runtime.close();
    }
  },
};
