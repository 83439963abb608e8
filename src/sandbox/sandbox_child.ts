/**
 * The entry point of a sandbox process: it runs the agent workers of an
 * orchestrator in a process of their own, so that code that never yields,
 * eats memory or crashes its thread costs that process and never the
 * orchestrator. The orchestrator starts it (see `ProcessAgentSystem`); it is
 * not meant to be run by hand.
 *
 * It reads one JSON line on stdin (port, token, options), connects back to
 * the orchestrator on loopback, proves itself with the token, then serves
 * requests (supervise, ask, unsupervise) with an {@linkcode ActorSystem} and
 * forwards runtime events, spans and host-service calls. Its environment is
 * empty and its stdout discarded: agent code finds no secret there and can
 * not write into the protocol.
 *
 * @module
 */
import { ActorSystem } from "../actor/actor_system.ts";
import { adoptActorModule } from "../actor/_module_sandbox.ts";
import { adoptRuntimeBundle } from "../actor/_runtime_bundle.ts";
import { ValueTooLargeError } from "../actor/actor_errors.ts";
import { type ErrorInfo, fromErrorInfo, toErrorInfo } from "../oao_error.ts";
import { boundErrorInfo, jsonBytes, type Limits, resolveLimits } from "../limits.ts";
import { configure, type LogRecord } from "@logtape/logtape";
import { AsyncLocalStorage } from "node:async_hooks";
import type { Supervisor } from "../actor/supervisor.ts";
import { parseTraceparent } from "../tracing/trace_context.ts";
import { Tracer } from "../tracing/tracer.ts";
import type { SpanData } from "../tracing/span_data.ts";
import { LineWriter, readLines } from "./_wire.ts";
import type { HostToSandbox, SandboxHello, SandboxToHost } from "./_sandbox_protocol.ts";

async function readHello(): Promise<SandboxHello> {
  const reader = Deno.stdin.readable.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("The orchestrator closed stdin before its hello");
    text += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  await Deno.stdin.readable.cancel().catch(() => {});
  return JSON.parse(text.slice(0, text.indexOf("\n"))) as SandboxHello;
}

// A reply small enough to send: a failed step's error is cut to the limits
// (as the orchestrator would), anything else too large is refused here
// rather than sent as a line the orchestrator would reject.
function bounded(
  value: unknown,
  limits: Limits,
): { ok: true; value: unknown } | { ok: false; error: ErrorInfo } {
  let reply = value;
  const failed = value as { ok?: unknown; error?: unknown } | null;
  if (
    failed && typeof failed === "object" && failed.ok === false && failed.error &&
    typeof failed.error === "object"
  ) {
    reply = { ...failed, error: boundErrorInfo(failed.error as ErrorInfo, limits) };
  }
  const size = jsonBytes(reply);
  const max = 2 * limits.maxValueBytes + limits.maxErrorChars * 4;
  if (size === undefined || size > max) {
    return {
      ok: false,
      error: toErrorInfo(new ValueTooLargeError("the agent's reply", size ?? Infinity, max)),
    };
  }
  return { ok: true, value: reply };
}

function logLine(record: LogRecord) {
  const message = record.message.map((part, i) =>
    i % 2 === 0
      ? String(part)
      : typeof part === "string"
      ? part
      : JSON.stringify(part) ?? String(part)
  ).join("");
  return {
    category: [...record.category],
    level: record.level,
    message,
    properties: record.properties,
  };
}

/** Runs the sandbox until the orchestrator goes away. */
export async function main(): Promise<void> {
  const hello = await readHello();
  if (typeof hello.runtime === "string") adoptRuntimeBundle(hello.runtime, hello.runtimeUrl);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: hello.port });
  conn.setNoDelay(true); // small reply lines: no Nagle delay
  const out = new LineWriter(conn.writable);
  const send = (message: SandboxToHost) => out.send(message);
  send({ k: "hello", token: hello.token });
  // Log records go to the orchestrator, whose logging (level, format,
  // redaction, sinks) applies to them as to its own.
  await configure({
    reset: true,
    sinks: { host: (record: LogRecord) => send({ k: "log", ...logLine(record) }) },
    loggers: [
      { category: ["oao"], lowestLevel: hello.logLevel as "debug", sinks: ["host"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["host"] },
    ],
    contextLocalStorage: new AsyncLocalStorage<Record<string, unknown>>(),
  });

  const limits = resolveLimits(hello.limits ?? {});
  const tracer = hello.tracing
    ? new Tracer({
      export: (spans: SpanData[]) => send({ k: "spans", spans }),
      flush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    })
    : undefined;
  const system = new ActorSystem({
    name: "sandbox",
    ...(tracer ? { tracer } : {}),
    ...(hello.heartbeatMs !== undefined ? { heartbeatMs: hello.heartbeatMs } : {}),
    ...(hello.heartbeatTimeoutMs !== undefined
      ? { heartbeatTimeoutMs: hello.heartbeatTimeoutMs }
      : {}),
    ...(hello.limits ? { limits: hello.limits } : {}),
    ...(hello.pool ? { pool: hello.pool } : {}),
    logEvents: false,
    // After the actor's failure event has gone out: the orchestrator kills this process on it.
    onSpinningWorker: (actor) => setTimeout(() => send({ k: "tainted", actor }), 20),
  });
  system.events.subscribe((event) => send({ k: "event", event }));

  const supervisors = new Map<string, Supervisor>();
  const calls = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  let nextCall = 1;
  const services = new Set<string>();
  const ensureService = (name: string) => {
    if (services.has(name)) return;
    services.add(name);
    system.registerService(name, (payload, caller) =>
      new Promise((resolve, reject) => {
        const id = nextCall++;
        calls.set(id, { resolve, reject });
        const from: { path: string; executionId?: string } = { path: caller.path };
        if (caller.executionId !== undefined) from.executionId = caller.executionId;
        send({ k: "call", id, service: name, payload, caller: from });
      }));
  };
  ensureService("oao.tool");
  ensureService("oao.model");
  ensureService("oao.wait");

  const statusOf = (path: string) => supervisors.get(path.split("/")[0]!)?.status;
  const handle = async (message: HostToSandbox) => {
    switch (message.k) {
      case "supervise": {
        try {
          for (const portable of message.modules ?? []) adoptActorModule(portable);
          const previous = supervisors.get(message.spec.id);
          if (previous) await system.unsupervise(previous, "immediate").catch(() => {});
          supervisors.set(message.spec.id, await system.supervise(message.spec));
          send({ k: "result", id: message.id, ok: true, value: null, status: "running" });
        } catch (error) {
          send({ k: "result", id: message.id, ok: false, error: toErrorInfo(error) });
        }
        return;
      }
      case "unsupervise": {
        const sup = supervisors.get(message.supervisor);
        supervisors.delete(message.supervisor);
        if (sup) await system.unsupervise(sup, message.mode).catch(() => {});
        send({ k: "result", id: message.id, ok: true, value: null, status: "stopped" });
        return;
      }
      case "ask": {
        const trace = message.traceparent ? parseTraceparent(message.traceparent) : undefined;
        try {
          const value = await system.ask(message.path, message.message, {
            timeoutMs: message.timeoutMs ?? Infinity,
            ...(trace ? { trace } : {}),
          });
          const status = statusOf(message.path);
          const reply = bounded(value, limits);
          if (reply.ok) {
            send({
              k: "result",
              id: message.id,
              ok: true,
              value: reply.value,
              ...(status ? { status } : {}),
            });
          } else {
            send({
              k: "result",
              id: message.id,
              ok: false,
              error: reply.error,
              ...(status ? { status } : {}),
            });
          }
        } catch (error) {
          const status = statusOf(message.path);
          send({
            k: "result",
            id: message.id,
            ok: false,
            error: boundErrorInfo(toErrorInfo(error), limits),
            ...(status ? { status } : {}),
          });
        }
        return;
      }
      case "call-result": {
        const call = calls.get(message.id);
        calls.delete(message.id);
        if (!call) return;
        if (message.ok) call.resolve(message.value);
        else call.reject(fromErrorInfo(message.error));
        return;
      }
      case "shutdown":
        await system.shutdown("the orchestrator closed its sandbox");
        await out.close();
        Deno.exit(0);
    }
  };
  try {
    await readLines(conn.readable, (message) => void handle(message as HostToSandbox));
  } finally {
    // The orchestrator is gone: nothing here may outlive it.
    Deno.exit(0);
  }
}

if (import.meta.main) await main();
