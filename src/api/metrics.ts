/**
 * OAO's Prometheus metrics: a subscriber of the orchestrator's event stream
 * (executions by status, steps, tool calls, tokens, retries, restarts,
 * policy violations, durations as histograms) plus HTTP request metrics and
 * gauges read at scrape time (running executions, queue depth, actors).
 * Served as text by `GET /metrics`. No dependency.
 *
 * @example
 * ```ts
 * import { OaoMetrics } from "./metrics.ts";
 * const metrics = new OaoMetrics();
 * metrics.observe({ type: "EXECUTION_STARTED", time: 0, executionId: "e", data: {} });
 * metrics.observe({ type: "EXECUTION_COMPLETED", time: 5, executionId: "e", data: { durationMs: 5 } });
 * const text = await metrics.render();
 * console.assert(text.includes('oao_executions_total{status="SUCCESS"} 1'));
 * ```
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "./_prometheus.ts";
import type { OaoEvent } from "../observability/events.ts";
import type { QueueStats } from "../queue/job_queue.ts";

/** Values read when `/metrics` is scraped. */
export interface ScrapeSources {
  /** Executions running (or leased) now. */
  inFlight?: (() => Promise<number>) | undefined;
  /** Job queue counts. */
  queueStats?: (() => Promise<QueueStats>) | undefined;
  /** Actors running in this process. */
  actors?: (() => number) | undefined;
}

const FINAL: Record<string, string> = {
  EXECUTION_COMPLETED: "SUCCESS",
  EXECUTION_FAILED: "FAILED",
  EXECUTION_CANCELLED: "CANCELLED",
};

/** The metrics of one OAO process. */
export class OaoMetrics {
  readonly #registry = new Registry();
  readonly #started = this.#registry.add(
    new Counter("oao_executions_started_total", "Executions started (resumes excluded)"),
  );
  readonly #finished = this.#registry.add(
    new Counter("oao_executions_total", "Executions finished, by final status"),
  );
  readonly #running = this.#registry.add(
    new Gauge("oao_executions_running", "Executions running (or leased by workers) now"),
  );
  readonly #steps = this.#registry.add(
    new Counter("oao_steps_total", "Steps entered, by lifecycle state"),
  );
  readonly #toolCalls = this.#registry.add(
    new Counter(
      "oao_tool_calls_total",
      "Tool calls, by tool and outcome (success, failed, skipped)",
    ),
  );
  readonly #tokens = this.#registry.add(
    new Counter("oao_tokens_total", "Tokens recorded by agents"),
  );
  readonly #retries = this.#registry.add(
    new Counter(
      "oao_retries_total",
      "RETRY_ATTEMPTED events: step retries and actor restarts scheduled",
    ),
  );
  readonly #restarts = this.#registry.add(
    new Counter("oao_actor_restarts_total", "Actors restarted from their snapshot"),
  );
  readonly #failures = this.#registry.add(
    new Counter("oao_actor_failures_total", "Actor failures, by reason"),
  );
  readonly #violations = this.#registry.add(
    new Counter("oao_policy_violations_total", "Policy violations, by limit"),
  );
  readonly #passivations = this.#registry.add(
    new Counter(
      "oao_passivations_total",
      "Executions passivated: a step that waited on the host gave its worker back",
    ),
  );
  readonly #activations = this.#registry.add(
    new Counter("oao_activations_total", "Passivated executions activated again"),
  );
  readonly #queue = this.#registry.add(
    new Gauge("oao_queue_depth", "Jobs in the queue, by state (waiting, delayed, in_flight, dead)"),
  );
  readonly #actors = this.#registry.add(
    new Gauge("oao_actors", "Actors (agent workers) running in this process"),
  );
  readonly #executionSeconds = this.#registry.add(
    new Histogram("oao_execution_duration_seconds", "Execution durations, by final status"),
  );
  readonly #stepSeconds = this.#registry.add(
    new Histogram("oao_step_duration_seconds", "Step durations, by lifecycle state"),
  );
  readonly #toolSeconds = this.#registry.add(
    new Histogram("oao_tool_call_duration_seconds", "Tool call durations, by tool"),
  );
  readonly #requests = this.#registry.add(
    new Counter("oao_http_requests_total", "HTTP requests, by method, route and status"),
  );
  readonly #requestSeconds = this.#registry.add(
    new Histogram("oao_http_request_duration_seconds", "HTTP request durations (streams excluded)"),
  );
  readonly #tokenMarks = new Map<string, number>();
  readonly #sources: ScrapeSources;

  /**
   * Creates the registry.
   *
   * @param sources Gauges read at scrape time.
   */
  constructor(sources: ScrapeSources = {}) {
    this.#sources = sources;
  }

  /**
   * Counts an event of the orchestrator's stream (subscribe it:
   * `orchestrator.events.subscribe((e) => metrics.observe(e))`).
   *
   * @param event The event.
   */
  observe(event: OaoEvent): void {
    const d = event.data ?? {};
    const id = event.executionId;
    if (id && event.totals) {
      // The first event seen of an execution sets its baseline (a resumed
      // execution carries the tokens of its earlier process); later ones add.
      const mark = this.#tokenMarks.get(id);
      if (mark !== undefined) this.#tokens.inc({}, event.totals.tokens - mark);
      this.#tokenMarks.set(id, event.totals.tokens);
    }
    switch (event.type) {
      case "EXECUTION_STARTED":
        this.#started.inc();
        if (id && !this.#tokenMarks.has(id)) this.#tokenMarks.set(id, 0);
        break;
      case "STATE_ENTER":
        if (d.state !== "FAILED") this.#steps.inc({ state: String(d.state) });
        break;
      case "STEP_COMPLETED":
        this.#stepSeconds.observe({ state: String(d.state) }, Number(d.durationMs) / 1000);
        break;
      case "TOOL_CALL_SUCCESS":
      case "TOOL_CALL_FAILED": {
        const outcome = event.type === "TOOL_CALL_SUCCESS" ? "success" : "failed";
        this.#toolCalls.inc({ tool: String(d.tool), outcome });
        this.#toolSeconds.observe({ tool: String(d.tool) }, Number(d.durationMs) / 1000);
        break;
      }
      case "IDEMPOTENT_TOOL_SKIPPED":
        this.#toolCalls.inc({ tool: String(d.tool), outcome: "skipped" });
        break;
      case "RETRY_ATTEMPTED":
        this.#retries.inc({ kind: typeof d.actor === "string" ? "actor_restart" : "step_retry" });
        break;
      case "ACTOR_RESTARTED":
        this.#restarts.inc();
        break;
      case "ACTOR_FAILED":
        this.#failures.inc({ reason: String(d.reason) });
        break;
      case "POLICY_VIOLATION":
        this.#violations.inc({ limit: String(d.limit) });
        break;
      case "EXECUTION_PASSIVATED":
        this.#passivations.inc();
        break;
      case "EXECUTION_ACTIVATED":
        this.#activations.inc();
        break;
    }
    const status = FINAL[event.type];
    if (status) {
      this.#finished.inc({ status });
      this.#executionSeconds.observe({ status }, Number(d.durationMs) / 1000);
      if (id) this.#tokenMarks.delete(id);
    }
  }

  /**
   * Counts an HTTP request.
   *
   * @param labels Method, route pattern (not the path: bounded cardinality) and status.
   * @param seconds Its duration, or `undefined` for streams.
   */
  observeRequest(
    labels: { method: string; route: string; status: number },
    seconds?: number,
  ): void {
    this.#requests.inc({
      method: labels.method,
      route: labels.route,
      status: String(labels.status),
    });
    if (seconds !== undefined) {
      this.#requestSeconds.observe({ method: labels.method, route: labels.route }, seconds);
    }
  }

  /**
   * Renders the metrics, reading the scrape-time gauges first (a source that
   * fails leaves its gauge as it was).
   *
   * @returns Prometheus text exposition format 0.0.4.
   */
  async render(): Promise<string> {
    const { inFlight, queueStats, actors } = this.#sources;
    const [running, stats] = await Promise.allSettled([
      inFlight ? inFlight() : Promise.resolve(0),
      queueStats ? queueStats() : Promise.resolve(undefined),
    ]);
    if (running.status === "fulfilled") this.#running.set({}, running.value);
    if (stats.status === "fulfilled") {
      const s = stats.value ?? { waiting: 0, delayed: 0, inFlight: 0, dead: 0 };
      this.#queue.set({ state: "waiting" }, s.waiting);
      this.#queue.set({ state: "delayed" }, s.delayed);
      this.#queue.set({ state: "in_flight" }, s.inFlight);
      this.#queue.set({ state: "dead" }, s.dead);
    }
    this.#actors.set({}, actors ? actors() : 0);
    return this.#registry.render();
  }
}
