// The executions this process runs: one ExecutionRun each, by id, from its
// start to its settling, under a claim — its own, taken here, or the
// caller's, given as a fencing token (a worker node's) — and with what the
// run options give it (fencing token, parent trace, cancellation). Internal.
import type { EventStore, Totals } from "../events/event_store.ts";
import { parseTraceparent, type TraceContext } from "../tracing/trace_context.ts";
import type { Tracer } from "../tracing/tracer.ts";
import type { ExecutionReport } from "./execution_report.ts";
import type { RunOptions } from "./orchestrator_options.ts";
import type { ExecutionRun } from "./_execution.ts";
import type { ExecutionClaim, Ownership } from "./_ownership.ts";

/** What an execution's run gets from its run options and its claim. */
export interface RunExtras {
  fencingToken?: number;
  parentTrace?: TraceContext;
  signal?: AbortSignal;
}

/** The executions one orchestrator runs in this process. */
export class RunningExecutions {
  readonly #eventStore: EventStore;
  readonly #ownership: Ownership;
  readonly #tracer: Tracer;
  readonly #runs = new Map<string, ExecutionRun>();
  readonly #settled = new Map<string, Promise<unknown>>();

  /** @param options Where claims are fenced and taken; the tracer whose active context is the default parent. */
  constructor(options: { eventStore: EventStore; ownership: Ownership; tracer: Tracer }) {
    this.#eventStore = options.eventStore;
    this.#ownership = options.ownership;
    this.#tracer = options.tracer;
  }

  /** Their ids. */
  get ids(): string[] {
    return [...this.#runs.keys()];
  }

  /** Whether an execution runs here. */
  has(executionId: string): boolean {
    return this.#runs.has(executionId);
  }

  /** The run of an execution, if it runs here. */
  get(executionId: string): ExecutionRun | undefined {
    return this.#runs.get(executionId);
  }

  /**
   * The run's own claim, unless the caller holds one (a fencing token).
   *
   * @throws {ExecutionBusyError} When another runner holds the execution.
   */
  async claim(executionId: string, options: RunOptions): Promise<ExecutionClaim | undefined> {
    if (options.fencingToken !== undefined) {
      await this.#eventStore.fence(executionId, options.fencingToken);
      return undefined;
    }
    return await this.#ownership.acquire(executionId);
  }

  /** What the run gets from the run options and the claim. */
  extras(options: RunOptions, claim: ExecutionClaim | undefined): RunExtras {
    const extras: RunExtras = {};
    const token = claim?.token ?? options.fencingToken;
    if (token !== undefined) extras.fencingToken = token;
    const trace = options.trace ?? parseTraceparent(options.traceparent) ??
      this.#tracer.activeContext();
    if (trace) extras.parentTrace = trace;
    const signals = [options.signal, claim?.lost].filter((s) => s !== undefined);
    if (signals.length) {
      extras.signal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);
    }
    return extras;
  }

  /**
   * Runs an execution here until it settles, then releases its claim.
   *
   * @returns Its report, with the cost of its model calls once one was made.
   */
  track(run: ExecutionRun, claim: ExecutionClaim | undefined): Promise<ExecutionReport> {
    this.#runs.set(run.executionId, run);
    const done = run.run().then((report) => withCost(report, run.totals)).finally(async () => {
      this.#runs.delete(run.executionId);
      this.#settled.delete(run.executionId);
      await claim?.release();
    });
    this.#settled.set(run.executionId, done.catch(() => {}));
    return done;
  }

  /**
   * Cancels every execution running here.
   *
   * @returns One promise an execution, settled (never rejected) when it has.
   */
  cancelAll(reason: string): Promise<unknown>[] {
    for (const run of this.#runs.values()) run.cancel(reason);
    return [...this.#settled.values()];
  }
}

// The report with the cost of the execution's model calls, once one was made.
function withCost(report: ExecutionReport, totals: Totals): ExecutionReport {
  return totals.costUsd === undefined ? report : { ...report, costUsd: totals.costUsd };
}
