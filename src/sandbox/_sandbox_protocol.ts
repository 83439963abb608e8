// Messages between the orchestrator (host) and a sandbox process that runs
// agent workers. Internal.
import type { PortableModule } from "../actor/_module_sandbox.ts";
import type { ErrorInfo } from "../oao_error.ts";
import type { OaoEvent } from "../observability/events.ts";
import type { SupervisorSpec } from "../actor/supervisor.ts";
import type { SpanData } from "../tracing/span_data.ts";
import type { WorkerPoolOptions } from "../actor/_worker_pool.ts";
import type { SupervisorStatus } from "../actor/supervisor.ts";

/** The first line the host writes on the child's stdin. */
export interface SandboxHello {
  port: number;
  token: string;
  tracing: boolean;
  /** Lowest level of the records forwarded to the orchestrator. */
  logLevel: string;
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
  limits?: Record<string, number>;
  /** Bounds of the pooled workers (the orchestrator's `actorSystem.pool`). */
  pool?: WorkerPoolOptions;
  /** The worker runtime's bundle (src/actor/_runtime_bundle.ts): the sandbox builds none. */
  runtime?: string;
  /** Its URL (a file of the orchestrator's bundle cache), when it has one. */
  runtimeUrl?: string;
}

/** Host → sandbox. */
export type HostToSandbox =
  | { k: "supervise"; id: number; spec: SupervisorSpec; modules: PortableModule[] }
  | { k: "unsupervise"; id: number; supervisor: string; mode: "graceful" | "immediate" }
  | {
    k: "ask";
    id: number;
    path: string;
    message: unknown;
    timeoutMs: number | null; // null: no time limit (JSON has no Infinity)
    traceparent?: string;
  }
  | { k: "call-result"; id: number; ok: true; value: unknown }
  | { k: "call-result"; id: number; ok: false; error: ErrorInfo }
  | { k: "shutdown" };

/** Sandbox → host. */
export type SandboxToHost =
  | { k: "hello"; token: string }
  | { k: "result"; id: number; ok: true; value: unknown; status?: SupervisorStatus }
  | { k: "result"; id: number; ok: false; error: ErrorInfo; status?: SupervisorStatus }
  | {
    k: "call";
    id: number;
    service: string;
    payload: unknown;
    caller: { path: string; executionId?: string };
  }
  | { k: "event"; event: OaoEvent }
  | { k: "spans"; spans: SpanData[] }
  | {
    k: "log";
    category: string[];
    level: string;
    message: string;
    properties: Record<string, unknown>;
  }
  // A worker was terminated while running code: its thread may still spin.
  | { k: "tainted"; actor: string };
