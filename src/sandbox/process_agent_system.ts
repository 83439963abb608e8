/**
 * Runs agent workers in sandbox processes instead of the orchestrator's own
 * process. Deno cannot stop a worker thread that never yields, and a worker
 * that exhausts its heap takes its whole process down: in a sandbox process,
 * such code costs that process — killed and replaced, the steps it was
 * running retried from the execution's log — and never the orchestrator.
 *
 * One process per agent group (an execution's root agent and its peers, with
 * their permissions), started on first use, shared by every execution of
 * that group. Its Deno permissions are the union of its agents' grants (each
 * worker still runs with its own), its environment holds only the variables
 * an agent was granted, and its heap is capped (`memoryMb`).
 *
 * @example
 * ```ts
 * import { defineTool, Orchestrator } from "@oao/runtime";
 * import assert from "node:assert/strict";
 *
 * // Needs the `run` permission: agents run in a child process of this one.
 * const orchestrator = new Orchestrator({
 *   sandbox: { mode: "process", memoryMb: 512 },
 *   tools: [defineTool({ name: "process_item", run: () => "processed" })],
 *   agents: [{ name: "bench", module: new URL("../../actors/bench_agent.ts", import.meta.url) }],
 * });
 * assert.equal(orchestrator.sandbox, "process");
 * const report = await orchestrator.run("bench", { item: 1 });
 * assert.equal(report.status, "SUCCESS");
 * await orchestrator.close(); // stops the sandbox processes
 * ```
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { AskOptions } from "../actor/actor_context.ts";
import type { HostSendOptions } from "../actor/actor_ref.ts";
import { resolveModule, type ServiceHandler } from "../actor/actor_system.ts";
import { normalizePermissions, type PermissionsSpec } from "../actor/permissions.ts";
import { invalidSpan } from "../actor/_protocol_guard.ts";
import { ActorFailedError, ActorSpawnError } from "../actor/actor_errors.ts";
import { toErrorInfo } from "../oao_error.ts";
import { portableActorModule } from "../actor/_module_sandbox.ts";
import {
  prepareRuntimeBundle,
  runtimeBundleCode,
  runtimeBundleUrl,
} from "../actor/_runtime_bundle.ts";
import type { WorkerPoolOptions } from "../actor/_worker_pool.ts";
import type { EventBus } from "../observability/event_bus.ts";
import type { OaoEvent } from "../observability/events.ts";
import type { AgentGroup, AgentRuntime } from "../orchestrator/agent_runtime.ts";
import type { SupervisorSpec, SupervisorStatus } from "../actor/supervisor.ts";
import { formatTraceparent } from "../tracing/trace_context.ts";
import type { Tracer } from "../tracing/tracer.ts";
import { unionPermissions } from "./_child_flags.ts";
import { SandboxProcess } from "./_sandbox_process.ts";
import type { SandboxToHost } from "./_sandbox_protocol.ts";

/** Options of the sandbox processes. */
export interface ProcessSandboxOptions {
  /** Heap limit of each sandbox process, in MB. @default {1024} */
  memoryMb?: number;
  /** Time a sandbox process has to start and connect, in ms. @default {30000} */
  startTimeoutMs?: number;
}

// The worker runtime's bundle for a sandbox process's hello, when there is one.
function runtimeHello(): { runtime?: string; runtimeUrl?: string } {
  const runtime = runtimeBundleCode();
  const runtimeUrl = runtimeBundleUrl();
  return runtime === undefined || runtimeUrl === undefined ? {} : { runtime, runtimeUrl };
}

/** What the process agent system needs from its orchestrator. */
export interface ProcessAgentSystemOptions extends ProcessSandboxOptions {
  /** The bus (with the journal) that runtime events from the sandboxes are published on. */
  bus: EventBus;
  /** The orchestrator's tracer; spans of agent workers go to its sink. */
  tracer: Tracer;
  /** Heartbeat settings of the workers. */
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
  /** Size limits at the worker boundary. */
  limits?: Record<string, number>;
  /** Bounds of the pooled workers in each sandbox process. */
  pool?: WorkerPoolOptions;
}

/**
 * Whether this process may start sandbox processes: the runtime is loaded
 * from files and the `run` permission is granted.
 *
 * @returns `true`, or why not.
 */
export function canStartSandbox(): true | string {
  if (new URL(import.meta.url).protocol !== "file:") {
    return `the runtime is loaded from ${new URL(import.meta.url).origin}, not from files`;
  }
  const state = Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state;
  return state === "granted" ? true : "the run permission is not granted (--allow-run)";
}

const LEVELS = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warning: "warn",
  error: "error",
  fatal: "fatal",
} as const;

class Group implements AgentGroup {
  status: SupervisorStatus = "running";
  constructor(readonly id: string, readonly process: SandboxProcess) {}
}

/** An {@linkcode AgentRuntime} whose workers run in sandbox processes. */
export class ProcessAgentSystem implements AgentRuntime {
  readonly #options: ProcessAgentSystemOptions;
  readonly #processes = new Map<string, SandboxProcess>(); // by agent group key
  readonly #groups = new Map<string, Group>(); // by supervisor id (execution id)
  readonly #services = new Map<string, ServiceHandler>();
  readonly #fences = new Map<string, number>();
  readonly #log = getLogger(["oao", "sandbox"]);
  #closed = false;

  /**
   * @param options The bus, tracer and sandbox settings.
   * @throws {RangeError} When `memoryMb` or `startTimeoutMs` is not a positive integer.
   */
  constructor(options: ProcessAgentSystemOptions) {
    for (const field of ["memoryMb", "startTimeoutMs"] as const) {
      const value = options[field];
      if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
        throw new RangeError(
          `Invalid sandbox ${field} ${JSON.stringify(value)}: expected a positive integer`,
        );
      }
    }
    this.#options = options;
  }

  /** Process ids of the sandbox processes alive. */
  get pids(): number[] {
    return [...this.#processes.values()].flatMap((p) =>
      p.pid === undefined || p.ended ? [] : [p.pid]
    );
  }

  async supervise(spec: SupervisorSpec): Promise<AgentGroup> {
    if (this.#closed) throw new ActorFailedError("$sandbox", "the sandbox is closed");
    await prepareRuntimeBundle(); // handed to the sandbox process in its hello
    const process = this.#processFor(spec);
    // Known before it starts: its first events (ACTOR_STARTED) come before the result.
    const group = new Group(spec.id, process);
    this.#groups.set(spec.id, group);
    try {
      // Verified here, once per orchestrator: the sandbox process needs no bundler.
      const modules = await Promise.all((spec.children ?? []).flatMap((c) => {
        if (!("module" in c)) return [];
        const module = resolveModule(c.module);
        const importHosts = normalizePermissions(c.permissions, `permissions of "${c.id}"`).import;
        const root = (c as { root?: string | URL }).root;
        return [
          portableActorModule(module, { root, importHosts }).catch((error) => {
            throw new ActorSpawnError(module, toErrorInfo(error).message, { cause: error });
          }),
        ];
      }));
      await process.request({ k: "supervise", spec, modules });
    } catch (error) {
      if (this.#groups.get(spec.id) === group) this.#groups.delete(spec.id);
      throw error;
    }
    return group;
  }

  async unsupervise(group: AgentGroup, mode: "graceful" | "immediate" = "graceful"): Promise<void> {
    const g = group as Group;
    if (this.#groups.get(g.id) === g) this.#groups.delete(g.id);
    g.status = "stopped";
    if (g.process.ended) return;
    await g.process.request({ k: "unsupervise", supervisor: g.id, mode }).catch(() => {});
  }

  async ask<T = unknown>(
    path: string,
    message: unknown,
    options: AskOptions & HostSendOptions = {},
  ): Promise<T> {
    const group = this.#groups.get(path.split("/")[0]!);
    if (!group || group.process.ended) {
      if (group) group.status = "failed";
      throw new ActorFailedError(path, "its sandbox process is gone");
    }
    const timeoutMs = options.timeoutMs ?? 5_000;
    const request: Parameters<SandboxProcess["request"]>[0] = {
      k: "ask",
      path,
      message,
      timeoutMs: Number.isFinite(timeoutMs) ? timeoutMs : null,
    };
    if (options.trace) request.traceparent = formatTraceparent(options.trace);
    try {
      const result = await group.process.request(request);
      if (result.status) group.status = result.status as SupervisorStatus;
      return result.value as T;
    } catch (error) {
      const status = (error as { status?: SupervisorStatus }).status;
      group.status = group.process.ended ? "failed" : status ?? group.status;
      throw error;
    }
  }

  /** Kills the group's sandbox process (its code may still run): its other executions retry. */
  async discard(group: AgentGroup, reason: string): Promise<void> {
    const g = group as Group;
    if (this.#groups.get(g.id) === g) this.#groups.delete(g.id);
    g.status = "stopped";
    this.#log.warn("Sandbox process replaced: {reason}", { reason });
    g.process.kill(reason);
    await Promise.resolve();
  }

  setFencingToken(executionId: string, token: number | undefined): void {
    if (token === undefined) this.#fences.delete(executionId);
    else this.#fences.set(executionId, token);
  }

  registerService(name: string, handler: ServiceHandler): () => void {
    this.#services.set(name, handler);
    return () => this.#services.delete(name);
  }

  async shutdown(_reason = "shutdown requested"): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#processes.values()].map((p) => p.close()));
    this.#processes.clear();
  }

  #processFor(spec: SupervisorSpec): SandboxProcess {
    const agents = (spec.children ?? []).map((c) => {
      const child = c as { id: string; module?: unknown; permissions?: PermissionsSpec };
      return {
        id: child.id,
        module: String(child.module),
        permissions: normalizePermissions(child.permissions, `permissions of "${child.id}"`),
      };
    });
    const key = JSON.stringify(agents);
    const existing = this.#processes.get(key);
    if (existing && !existing.ended) return existing;
    const process = new SandboxProcess({
      permissions: unionPermissions(agents.map((a) => a.permissions)),
      memoryMb: this.#options.memoryMb ?? 1024,
      startTimeoutMs: this.#options.startTimeoutMs ?? 30_000,
      hello: {
        tracing: this.#options.tracer.enabled,
        logLevel: "debug",
        ...(this.#options.heartbeatMs !== undefined
          ? { heartbeatMs: this.#options.heartbeatMs }
          : {}),
        ...(this.#options.heartbeatTimeoutMs !== undefined
          ? { heartbeatTimeoutMs: this.#options.heartbeatTimeoutMs }
          : {}),
        ...(this.#options.limits ? { limits: this.#options.limits } : {}),
        ...(this.#options.pool ? { pool: this.#options.pool } : {}),
        ...runtimeHello(),
      },
    }, {
      onMessage: (message, from) => this.#onMessage(message, from),
      onExit: (from, reason) => this.#onExit(from, reason),
    });
    this.#processes.set(key, process);
    return process;
  }

  #owns(process: SandboxProcess, executionId: unknown): boolean {
    return typeof executionId === "string" && this.#groups.get(executionId)?.process === process;
  }

  #onMessage(message: SandboxToHost, from: SandboxProcess): void {
    switch (message.k) {
      case "event": {
        const event = message.event as OaoEvent;
        // A sandbox speaks only for the executions it runs.
        if (typeof event?.type !== "string" || !this.#owns(from, event.executionId)) return;
        const token = this.#fences.get(event.executionId!);
        void this.#options.bus.publish(event, token === undefined ? {} : { fencingToken: token })
          .catch((error) =>
            this.#log.error("Cannot record runtime event {type}: {error}", {
              type: event.type,
              error: toErrorInfo(error).message,
            })
          );
        return;
      }
      case "spans": {
        const sink = this.#options.tracer.sink;
        if (!sink || !Array.isArray(message.spans)) return;
        sink.export(message.spans.filter((span) => invalidSpan(span) === undefined));
        return;
      }
      case "call":
        return void this.#call(message, from);
      case "log":
        return this.#relog(message);
      case "tainted":
        this.#log.warn(
          "Agent {actor} was stopped while running code that never yields; its sandbox process is replaced",
          { actor: String(message.actor) },
        );
        return from.kill(`it ran an agent that never yields ("${String(message.actor)}")`);
    }
  }

  async #call(message: Extract<SandboxToHost, { k: "call" }>, from: SandboxProcess): Promise<void> {
    const handler = this.#services.get(message.service);
    try {
      if (!handler) throw new TypeError(`No service "${message.service}" is registered`);
      const caller = message.caller;
      // The caller must be an actor of an execution this sandbox runs.
      if (!this.#owns(from, caller?.executionId)) {
        throw new TypeError(
          `Service call refused: it does not come from an execution of this sandbox`,
        );
      }
      const value = await handler(message.payload, {
        path: String(caller.path),
        executionId: caller.executionId,
      });
      from.post({ k: "call-result", id: message.id, ok: true, value: value ?? null });
    } catch (error) {
      from.post({ k: "call-result", id: message.id, ok: false, error: toErrorInfo(error) });
    }
  }

  // A sandbox's log record goes through this process's logging, as its own would.
  #relog(record: Extract<SandboxToHost, { k: "log" }>): void {
    const category = Array.isArray(record.category) ? record.category.map(String) : [];
    if (category[0] !== "oao" || typeof record.message !== "string") return;
    const level = LEVELS[record.level as keyof typeof LEVELS];
    if (!level) return;
    const properties = typeof record.properties === "object" && record.properties !== null
      ? record.properties
      : {};
    getLogger(category.slice(0, 4)).with(properties)[level](
      record.message.replaceAll("{", "{{").replaceAll("}", "}}"),
    );
  }

  // Every execution that ran there lost its agents: each is told, as a failure of its actors.
  #onExit(process: SandboxProcess, reason: string): void {
    for (const [key, p] of this.#processes) if (p === process) this.#processes.delete(key);
    if (this.#closed) return;
    for (const group of this.#groups.values()) {
      if (group.process !== process) continue;
      group.status = "failed";
      const token = this.#fences.get(group.id);
      void this.#options.bus.publish({
        type: "ACTOR_FAILED",
        time: Date.now(),
        executionId: group.id,
        data: {
          actor: group.id,
          incarnation: 0,
          reason: "worker_died",
          error: { name: "Error", message: `The agents' sandbox process ended: ${reason}` },
        },
      }, token === undefined ? {} : { fencingToken: token }).catch(() => {});
    }
  }
}
