// A real API server on 127.0.0.1 (free port) over an in-process orchestrator
// with the bundled agents, the test agent, the waiting agent and a cancellable `sleep` tool.
import { exampleTools } from "../../actors/example_tools.ts";
import type { LocalBackendOptions } from "../../src/orchestrator/local_backend.ts";
import { LocalWorkflowBackend } from "../../src/orchestrator/local_workflow_backend.ts";
import { OaoMetrics } from "../../src/api/metrics.ts";
import { type ApiServer, startApiServer } from "../../src/api/server.ts";
import { BUNDLED_AGENTS } from "../../src/cli/_runtime.ts";
import { type AgentRegistration, Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { defineTool, type ToolDefinition } from "../../src/orchestrator/tool.ts";
import type { OaoEvent } from "../../src/observability/events.ts";
import type { JobQueue } from "../../src/queue/job_queue.ts";

/** Sleeps `ms`, or until the call is aborted (cancellation). */
export const sleepTool = defineTool({
  name: "sleep",
  idempotent: true,
  run: ({ ms }: { ms: number }, ctx) =>
    new Promise<{ slept: number }>((resolve, reject) => {
      const timer = setTimeout(() => resolve({ slept: ms }), ms);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(ctx.signal.reason ?? new Error("aborted"));
      }, { once: true });
    }),
});

/** An agent registered with every detail GET /agents shows. */
export const PROBER: AgentRegistration = {
  name: "prober",
  module: new URL("../../actors/permission_probe.ts", import.meta.url),
  version: "2.0.0",
  description: "Probes what it may do",
  tools: ["sleep"],
  permissions: { net: ["api.example.com"] },
  isolation: "execution",
  maxRunning: 2,
};

// deno-lint-ignore no-explicit-any
export type Json = any;

export interface TestServer extends AsyncDisposable {
  url: string;
  server: ApiServer;
  orchestrator: Orchestrator;
  metrics: OaoMetrics;
  /** Sends a request and reads the whole body (JSON when it parses). */
  call(
    method: string,
    path: string,
    init?: { body?: BodyInit; headers?: Record<string, string> },
  ): Promise<{ status: number; headers: Headers; body: Json; text: string }>;
  /** Polls the status until `until` holds (or 10 s pass). */
  waitFor(id: string, until: (status: Json) => boolean): Promise<Json>;
}

export function startTestServer(
  options: {
    token?: string;
    maxBodyBytes?: number;
    ready?: () => Promise<boolean>;
    corsOrigins?: string[];
    backend?: LocalBackendOptions;
    bodyTimeoutMs?: number;
    /** The TCP front's limits (see `ApiServerOptions`). */
    front?: { headersTimeoutMs?: number; idleTimeoutMs?: number; maxConnections?: number };
    /** The test agent's own `maxRunning`. */
    testerMaxRunning?: number;
    /** A job queue shown at `/queue`. */
    queue?: JobQueue;
    /** `OAO_TRACE_URL`. */
    traceUrl?: string;
    /** More agents. */
    agents?: AgentRegistration[];
    /** More tools. */
    tools?: ToolDefinition[];
  } = {},
): Promise<TestServer> {
  const orchestrator = new Orchestrator({
    tools: [...exampleTools, sleepTool as never, ...(options.tools ?? [])],
    retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20 },
    agents: [
      ...BUNDLED_AGENTS,
      {
        name: "tester",
        module: new URL("../fixtures/test_agent.ts", import.meta.url),
        version: "1.0.0",
        ...(options.testerMaxRunning ? { maxRunning: options.testerMaxRunning } : {}),
      },
      { name: "waiter", module: new URL("../fixtures/wait_agent.ts", import.meta.url) },
      ...(options.agents ?? []),
    ],
  });
  const backend = new LocalWorkflowBackend(orchestrator, options.backend ?? {});
  const metrics = new OaoMetrics({
    inFlight: () => backend.inFlight(),
    actors: () => orchestrator.system.actors.length,
  });
  orchestrator.events.subscribe((event: OaoEvent) => metrics.observe(event));
  const server = startApiServer({
    backend,
    eventStore: orchestrator.eventStore,
    metrics,
    port: 0,
    token: options.token,
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...(options.ready ? { ready: options.ready } : {}),
    ...(options.corsOrigins ? { corsOrigins: options.corsOrigins } : {}),
    ...(options.bodyTimeoutMs ? { bodyTimeoutMs: options.bodyTimeoutMs } : {}),
    ...(options.queue ? { queue: options.queue } : {}),
    ...(options.traceUrl ? { traceUrl: options.traceUrl } : {}),
    ...options.front,
  });
  const call: TestServer["call"] = async (method, path, init = {}) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: init.body !== undefined && !init.headers?.["content-type"]
        ? { "content-type": "application/json", ...init.headers }
        : init.headers ?? {},
      body: init.body ?? null,
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: response.status, headers: response.headers, body, text };
  };
  return Promise.resolve({
    url: server.url,
    server,
    orchestrator,
    metrics,
    call,
    async waitFor(id, until) {
      const deadline = Date.now() + 10_000;
      while (true) {
        const { body } = await call("GET", `/executions/${id}`);
        if (until(body) || Date.now() > deadline) return body;
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await backend.close();
    },
  });
}

/** One Server-Sent Events message. */
export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

/** Reads SSE messages until an `end` event, `max` messages, or the stream closes. */
export async function readSse(
  url: string,
  headers: Record<string, string> = {},
  max = Infinity,
): Promise<{ status: number; messages: SseMessage[]; contentType: string | null }> {
  const response = await fetch(url, { headers });
  if (!response.body || response.status !== 200) {
    await response.body?.cancel();
    return {
      status: response.status,
      messages: [],
      contentType: response.headers.get("content-type"),
    };
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const messages: SseMessage[] = [];
  let buffer = "";
  try {
    outer: while (messages.length < max) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      let cut: number;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const message: SseMessage = { data: "" };
        let hasData = false;
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") message.id = value;
          else if (field === "event") message.event = value;
          else if (field === "data") {
            message.data += value;
            hasData = true;
          }
        }
        if (!hasData) continue;
        messages.push(message);
        if (message.event === "end" || messages.length >= max) break outer;
      }
    }
  } finally {
    await reader.cancel();
  }
  return { status: response.status, messages, contentType: response.headers.get("content-type") };
}
