/**
 * OAO's Prometheus metrics, on the maintained client `prom-client`: a
 * subscriber of the orchestrator's event stream (executions by status, steps,
 * tool calls, tokens, model calls with their tokens and cost by model and
 * agent, retries, restarts, policy violations, durations as histograms) plus HTTP request metrics, gauges read at scrape time (running
 * executions, queue depth, actors, pooled workers) and prom-client's default
 * process metrics. Served by `GET /metrics`.
 *
 * @example
 * ```ts
 * import { OaoMetrics } from "./metrics.ts";
 * const metrics = new OaoMetrics();
 * metrics.observe({ type: "EXECUTION_STARTED", time: 0, executionId: "e", data: {} });
 * metrics.observe({ type: "EXECUTION_COMPLETED", time: 5, executionId: "e", data: { durationMs: 5 } });
 * const text = await metrics.render();
 * console.assert(text.includes('oao_executions_total{status="SUCCESS"} 1'));
 * console.assert(metrics.contentType.startsWith("text/plain; version=0.0.4"));
 * ```
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { processRegistry } from "./_process_metrics.ts";
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
  /** Workers hosting pooled actors in this process. */
  pooledWorkers?: (() => number) | undefined;
}

const FINAL: Record<string, string> = {
  EXECUTION_COMPLETED: "SUCCESS",
  EXECUTION_FAILED: "FAILED",
  EXECUTION_CANCELLED: "CANCELLED",
};

/** The `method` label values; any other method is counted as `other`. */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * Distinct model ids the model metrics label: agents choose their models, so
 * beyond these the rest count as "other" (an agent calling a new id per call
 * added 21 series per id).
 */
const MAX_MODEL_LABELS = 50;

/** Buckets of the duration histograms, in seconds. */
// deno-fmt-ignore
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** The metrics of one OAO process. Each instance has its own registry. */
export class OaoMetrics {
  readonly #registry = new Registry();
  readonly #models = new Set<string>();
  /** `Content-Type` of {@linkcode OaoMetrics.render}'s text (Prometheus text format 0.0.4). */
  readonly contentType: string = this.#registry.contentType;
  readonly #started = this.#counter(
    "oao_executions_started_total",
    "Executions started (resumes excluded)",
  );
  readonly #finished = this.#counter(
    "oao_executions_total",
    "Executions finished, by final status",
    ["status"],
  );
  readonly #decisions = this.#counter(
    "oao_decisions_required_total",
    "Tool calls a crash left unknown that an operator must decide on (status NEEDS_DECISION)",
  );
  readonly #waits = this.#counter(
    "oao_waits_total",
    "Durable waits started, by kind (signal, timer)",
    ["kind"],
  );
  readonly #signalWaitsEnded = this.#counter(
    "oao_signal_waits_ended_total",
    "Signal waits ended, by outcome (taken, timed_out)",
    ["outcome"],
  );
  readonly #approvals = this.#counter(
    "oao_approvals_total",
    "Waits for a person's approval of a tool call that ended, by outcome (approved, denied, timed_out, interrupted)",
    ["outcome"],
  );
  // Approvals the executions of this process wait for now, by execution and call.
  readonly #approvalsWaiting = new Set<string>();
  /** Signal and timer waits in progress in this process, by kind. */
  readonly #waitsPending = { signal: 0, timer: 0 };
  readonly #steps = this.#counter("oao_steps_total", "Steps entered, by lifecycle state", [
    "state",
  ]);
  readonly #toolCalls = this.#counter(
    "oao_tool_calls_total",
    "Tool calls, by tool and outcome (success, failed, skipped)",
    ["tool", "outcome"],
  );
  readonly #tokens = this.#counter("oao_tokens_total", "Tokens recorded by agents");
  readonly #modelCalls = this.#counter(
    "oao_model_calls_total",
    `Model calls, by model (after ${MAX_MODEL_LABELS} distinct ones, "other"), agent and outcome (success, failed)`,
    ["model", "agent", "outcome"],
  );
  readonly #modelTokens = this.#counter(
    "oao_model_tokens_total",
    "Tokens of completed model calls, by model, agent and type (input, output, cached_input; input includes cached_input)",
    ["model", "agent", "type"],
  );
  readonly #modelCost = this.#counter(
    "oao_model_cost_usd_total",
    "Cost of completed model calls in USD (from the price table), by model and agent",
    ["model", "agent"],
  );
  readonly #modelSeconds = this.#histogram(
    "oao_model_call_duration_seconds",
    "Model call latencies (the successful attempt), by model",
    ["model"],
  );
  readonly #retries = this.#counter(
    "oao_retries_total",
    "RETRY_ATTEMPTED events: step retries and actor restarts scheduled",
    ["kind"],
  );
  readonly #restarts = this.#counter(
    "oao_actor_restarts_total",
    "Actors restarted from their snapshot",
  );
  readonly #failures = this.#counter("oao_actor_failures_total", "Actor failures, by reason", [
    "reason",
  ]);
  readonly #violations = this.#counter(
    "oao_policy_violations_total",
    "Policy violations, by limit",
    ["limit"],
  );
  readonly #passivations = this.#counter(
    "oao_passivations_total",
    "Executions passivated: a step that waited on the host gave its worker back",
  );
  readonly #activations = this.#counter(
    "oao_activations_total",
    "Passivated executions activated again",
  );
  readonly #scheduleTicks = this.#counter(
    "oao_schedule_ticks_total",
    "Schedule ticks handled by this node, by outcome (fired, skipped, buffered, failed) and reason",
    ["outcome", "reason"],
  );
  readonly #executionSeconds = this.#histogram(
    "oao_execution_duration_seconds",
    "Execution durations, by final status",
    ["status"],
  );
  readonly #stepSeconds = this.#histogram(
    "oao_step_duration_seconds",
    "Step durations, by lifecycle state",
    ["state"],
  );
  readonly #toolSeconds = this.#histogram(
    "oao_tool_call_duration_seconds",
    "Tool call durations, by tool",
    ["tool"],
  );
  readonly #requests = this.#counter(
    "oao_http_requests_total",
    "HTTP requests, by method, route and status",
    ["method", "route", "status"],
  );
  readonly #requestSeconds = this.#histogram(
    "oao_http_request_duration_seconds",
    "HTTP request durations (streams excluded)",
    ["method", "route"],
  );
  // Tokens counted so far, per execution neither finished nor passivated here.
  readonly #tokenMarks = new Map<string, number>();

  /**
   * Creates the registry and its gauges read at scrape time (a gauge without
   * a source reads 0; a source that fails leaves its gauge as it was).
   *
   * @param sources Gauges read at scrape time.
   * @example
   * ```ts
   * import { OaoMetrics } from "./metrics.ts";
   * const metrics = new OaoMetrics({ actors: () => 3, pooledWorkers: () => 1 });
   * console.assert((await metrics.render()).includes("oao_actors 3"));
   * ```
   */
  constructor(sources: ScrapeSources = {}) {
    const registers = [this.#registry];
    const { inFlight, queueStats, actors, pooledWorkers } = sources;
    _scrapeGauge(
      registers,
      "oao_executions_running",
      "Executions running (or leased by workers) now",
      inFlight,
    );
    new Gauge({
      name: "oao_queue_depth",
      help: "Jobs in the queue, by state (waiting, delayed, in_flight, dead)",
      labelNames: ["state"],
      registers,
      async collect() {
        let s: QueueStats = { waiting: 0, delayed: 0, inFlight: 0, dead: 0 };
        try {
          if (queueStats) s = await queueStats();
        } catch {
          return; // the source failed: the gauge keeps its last values
        }
        this.set({ state: "waiting" }, s.waiting);
        this.set({ state: "delayed" }, s.delayed);
        this.set({ state: "in_flight" }, s.inFlight);
        this.set({ state: "dead" }, s.dead);
      },
    });
    _scrapeGauge(registers, "oao_actors", "Actors (agent workers) running in this process", actors);
    _scrapeGauge(
      registers,
      "oao_approvals_pending",
      "Tool calls that executions running in this process wait to be approved by a person",
      () => this.#approvalsWaiting.size,
    );
    const pending = this.#waitsPending;
    new Gauge({
      name: "oao_waits_pending",
      help: "Executions running in this process that wait for a signal or a timer, by kind",
      labelNames: ["kind"],
      registers,
      collect() {
        for (const [kind, count] of Object.entries(pending)) this.set({ kind }, count);
      },
    });
    _scrapeGauge(registers, "oao_pooled_workers", "Workers hosting pooled actors", pooledWorkers);
    processRegistry(); // the process metrics (event-loop delay sampled from now on)
  }

  /**
   * Counts an event of the orchestrator's stream (subscribe it:
   * `orchestrator.events.subscribe((e) => metrics.observe(e))`). A missing or
   * negative duration is not observed (the event is still counted).
   *
   * @param event The event.
   * @example
   * ```ts
   * import { OaoMetrics } from "./metrics.ts";
   * const metrics = new OaoMetrics();
   * metrics.observe({ type: "TOOL_CALL_SUCCESS", time: 0, executionId: "e", data: { tool: "fetch", durationMs: 12 } });
   * console.assert((await metrics.render()).includes('oao_tool_calls_total{tool="fetch",outcome="success"} 1'));
   * ```
   */
  observe(event: OaoEvent): void {
    const d = event.data ?? {};
    const status = FINAL[event.type];
    if (event.executionId) {
      // A finished or passivated execution is forgotten: a long-running node
      // keeps one entry per execution in progress here, not per execution seen.
      this.#countTokens(event, status !== undefined || event.type === "EXECUTION_PASSIVATED");
    }
    switch (event.type) {
      case "EXECUTION_STARTED":
        this.#started.inc();
        break;
      case "STATE_ENTER":
        if (d.state !== "FAILED") this.#steps.inc({ state: String(d.state) });
        break;
      case "STEP_COMPLETED":
        _observe(this.#stepSeconds, { state: String(d.state) }, Number(d.durationMs) / 1000);
        break;
      case "TOOL_CALL_SUCCESS":
      case "TOOL_CALL_FAILED": {
        const outcome = event.type === "TOOL_CALL_SUCCESS" ? "success" : "failed";
        this.#toolCalls.inc({ tool: String(d.tool), outcome });
        _observe(this.#toolSeconds, { tool: String(d.tool) }, Number(d.durationMs) / 1000);
        break;
      }
      case "IDEMPOTENT_TOOL_SKIPPED":
        this.#toolCalls.inc({ tool: String(d.tool), outcome: "skipped" });
        break;
      case "RETRY_ATTEMPTED":
        this.#retries.inc({
          kind: typeof d.actor === "string"
            ? "actor_restart"
            : typeof d.model === "string"
            ? "model_retry"
            : "step_retry",
        });
        break;
      case "MODEL_CALL_COMPLETED":
      case "MODEL_CALL_FAILED": {
        const model = this.#modelLabel(d.model);
        const agent = _label(d.agent);
        const ok = event.type === "MODEL_CALL_COMPLETED";
        this.#modelCalls.inc({ model, agent, outcome: ok ? "success" : "failed" });
        // A failed call counts the tokens and cost of an answer that came and then failed.
        const usage = (d.usage ?? {}) as Record<string, unknown>;
        for (
          const [type, value] of [
            ["input", usage.inputTokens],
            ["output", usage.outputTokens],
            ["cached_input", usage.cachedInputTokens],
          ] as const
        ) {
          if (typeof value === "number" && Number.isFinite(value) && value > 0) {
            this.#modelTokens.inc({ model, agent, type }, value);
          }
        }
        const cost = Number(d.costUsd);
        if (Number.isFinite(cost) && cost > 0) this.#modelCost.inc({ model, agent }, cost);
        if (ok) _observe(this.#modelSeconds, { model }, Number(d.latencyMs) / 1000);
        break;
      }
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
      case "DECISION_REQUIRED":
        this.#decisions.inc();
        break;
      case "WAITING_FOR_SIGNAL":
      case "TIMER_STARTED":
        this.#waits.inc({ kind: event.type === "TIMER_STARTED" ? "timer" : "signal" });
        break;
      case "SIGNAL_CONSUMED":
      case "SIGNAL_TIMED_OUT":
        this.#signalWaitsEnded.inc({
          outcome: event.type === "SIGNAL_CONSUMED" ? "taken" : "timed_out",
        });
        break;
      case "EXECUTION_ACTIVATED":
        this.#activations.inc();
        break;
      case "SIGNAL_WAITING":
      case "TIMER_WAITING":
        this.#waitsPending[event.type === "SIGNAL_WAITING" ? "signal" : "timer"]++;
        break;
      case "SIGNAL_WAIT_ENDED":
      case "TIMER_WAIT_ENDED": {
        const kind = event.type === "SIGNAL_WAIT_ENDED" ? "signal" : "timer";
        this.#waitsPending[kind] = Math.max(0, this.#waitsPending[kind] - 1);
        break;
      }
      case "APPROVAL_WAITING":
        this.#approvalsWaiting.add(`${event.executionId} ${String(d.callId)}`);
        break;
      case "APPROVAL_WAIT_ENDED":
        this.#approvalsWaiting.delete(`${event.executionId} ${String(d.callId)}`);
        this.#approvals.inc({ outcome: String(d.outcome) });
        break;
      case "SCHEDULE_TICK": {
        const count = Number(d.count);
        this.#scheduleTicks.inc(
          { outcome: _label(d.outcome), reason: _label(d.reason) },
          Number.isFinite(count) && count > 0 ? count : 1,
        );
        break;
      }
    }
    if (status) {
      this.#finished.inc({ status });
      _observe(this.#executionSeconds, { status }, Number(d.durationMs) / 1000);
    }
  }

  /**
   * Counts an HTTP request. Labels stay bounded whatever clients send: a
   * method other than GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS counts
   * as `other`, and the status is truncated to an integer within 100–599 (a
   * non-number counts as 500).
   *
   * @param labels Method, route pattern (`/executions/:id` or `unmatched`: not
   * the path, which clients choose) and status.
   * @param seconds Its duration, or `undefined` for streams.
   * @example
   * ```ts
   * import { OaoMetrics } from "./metrics.ts";
   * const metrics = new OaoMetrics();
   * metrics.observeRequest({ method: "BREW", route: "unmatched", status: 404 }, 0.001);
   * console.assert((await metrics.render()).includes('method="other",route="unmatched",status="404"'));
   * ```
   */
  observeRequest(
    labels: { method: string; route: string; status: number },
    seconds?: number,
  ): void {
    const method = METHODS.has(labels.method) ? labels.method : "other";
    const route = String(labels.route);
    const status = Number.isFinite(labels.status)
      ? String(Math.min(599, Math.max(100, Math.trunc(labels.status))))
      : "500";
    // Children by label values, kept here: prom-client hashes the labels on
    // every call otherwise, a cost on the request path (the label sets are bounded).
    const key = `${method} ${route} ${status}`;
    let child = this.#requestChildren.get(key);
    if (!child) {
      child = {
        count: this.#requests.labels({ method, route, status }),
        seconds: this.#requestSeconds.labels({ method, route }),
      };
      this.#requestChildren.set(key, child);
    }
    child.count.inc();
    if (seconds !== undefined && Number.isFinite(seconds) && seconds >= 0) {
      child.seconds.observe(seconds);
    }
  }

  readonly #requestChildren = new Map<
    string,
    { count: { inc(): void }; seconds: { observe(value: number): void } }
  >();

  /**
   * Renders the metrics, reading the scrape-time gauges first, followed by
   * the process metrics.
   *
   * @returns Prometheus text exposition format 0.0.4 (see {@linkcode OaoMetrics.contentType}).
   * @example
   * ```ts
   * import { OaoMetrics } from "./metrics.ts";
   * const text = await new OaoMetrics().render();
   * console.assert(text.includes("# TYPE process_resident_memory_bytes gauge"));
   * ```
   */
  async render(): Promise<string> {
    const text = await Registry.merge([this.#registry, processRegistry()]).metrics();
    // prom-client 15 writes NaN as "Nan" (the event-loop delay mean and
    // stddev before the monitor's first sample); the format says "NaN".
    return text.replace(/^([^#\n].*) Nan$/gm, "$1 NaN");
  }

  /**
   * Executions whose token count is being followed (started or resumed here
   * and neither finished nor passivated since).
   *
   * @internal For tests of the bound on memory; not part of the API.
   * @returns Their number.
   */
  get trackedExecutions(): number {
    return this.#tokenMarks.size;
  }

  // Adds the tokens recorded since the execution's previous event. The first
  // event seen of an execution sets its baseline (a resumed execution carries
  // the tokens of its earlier process; an activated one, those counted before
  // its passivation); `last` forgets it.
  #countTokens(event: OaoEvent, last: boolean): void {
    const id = event.executionId!;
    const tokens = event.totals?.tokens;
    const mark = this.#tokenMarks.get(id);
    if (typeof tokens === "number" && Number.isFinite(tokens)) {
      if (mark !== undefined && tokens > mark) this.#tokens.inc(tokens - mark);
      if (!last) this.#tokenMarks.set(id, tokens);
    } else if (!last && mark === undefined && event.type === "EXECUTION_STARTED") {
      this.#tokenMarks.set(id, 0);
    }
    if (last) this.#tokenMarks.delete(id);
  }

  // A model id as a label: the first MAX_MODEL_LABELS distinct ones, then "other".
  #modelLabel(value: unknown): string {
    const label = _label(value);
    if (this.#models.has(label)) return label;
    if (this.#models.size >= MAX_MODEL_LABELS) return "other";
    this.#models.add(label);
    return label;
  }

  #counter<L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.#registry] });
  }

  #histogram<L extends string>(name: string, help: string, labelNames: L[]): Histogram<L> {
    return new Histogram({
      name,
      help,
      labelNames,
      buckets: DURATION_BUCKETS,
      registers: [this.#registry],
    });
  }
}

// A label-less gauge read at scrape time (0 without a source).
function _scrapeGauge(
  registers: Registry[],
  name: string,
  help: string,
  read: (() => number | Promise<number>) | undefined,
): void {
  new Gauge({
    name,
    help,
    registers,
    async collect() {
      try {
        this.set(read ? await read() : 0);
      } catch {
        // the source failed: the gauge keeps its last value
      }
    },
  });
}

// A label value from an event: a string, bounded (an unknown one reads "unknown").
function _label(value: unknown): string {
  return typeof value === "string" && value ? value.slice(0, 100) : "unknown";
}

// prom-client throws on a NaN or negative observation; an event with a
// missing duration is not observed.
function _observe<L extends string>(
  histogram: Histogram<L>,
  labels: Partial<Record<L, string>>,
  seconds: number,
): void {
  if (Number.isFinite(seconds) && seconds >= 0) histogram.observe(labels, seconds);
}
