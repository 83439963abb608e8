// Durable waits of an execution: signals and timers. Internal: each
// ExecutionRun has one.
//
// A wait is keyed like a tool call: a hash of what is awaited and of the
// step, plus its occurrence in the step, so that the same wait in a step run
// again (a retry, an activation, a resume in another process) is recognised.
// Everything a wait decides is in the log, keyed by the wait:
//
// - a timer: TIMER_STARTED (its due time, kept across resumes) and
//   TIMER_FIRED;
// - a signal: WAITING_FOR_SIGNAL (its deadline, kept across resumes) and
//   SIGNAL_CONSUMED (which SIGNAL_RECEIVED it took, with the payload) or
//   SIGNAL_TIMED_OUT. Signals are appended by `Orchestrator.signal` from any
//   process; a wait takes the oldest of its name that no wait consumed.
//
// While it waits, the step waits on the host (`HostWaits`): the execution
// is passivated and holds no worker.
import { sleepOn } from "../clock.ts";
import { OaoError } from "../errors.ts";
import type { StoredEvent } from "../events/event_store.ts";
import { canonicalJson, sha256Hex } from "./canonical_json.ts";
import { callKey } from "./tool.ts";
import type { GateRun } from "./_tool_gate.ts";
import type { validateWaitRequest } from "./_wait_boundary.ts";

/** A wait as `validateWaitRequest` returns it. */
export type CheckedWait = ReturnType<typeof validateWaitRequest>;

/** The answer to a signal wait. */
export type SignalOutcome = { payload: unknown };

/** A signal wait that reached its deadline: the agent's call fails with it. */
export class SignalTimeoutError extends OaoError {
  /**
   * @param name The signal's name.
   * @param timeoutMs How long the wait was.
   */
  constructor(name: string, timeoutMs: number) {
    super("SIGNAL_TIMEOUT", `No signal "${name}" arrived within ${timeoutMs} ms`);
  }
}

export class WaitGate {
  readonly #run: GateRun;
  // One wait at a time takes signals, so two waits for one name take two.
  #taking: Promise<unknown> = Promise.resolve();
  // What the takes read of the log so far: up to seq `#readTo`, the signals
  // not consumed yet (by name, oldest first) and the seqs of consumed ones.
  #readTo = 0;
  #unconsumed = new Map<string, StoredEvent[]>();
  #consumed = new Set<number>();

  constructor(run: GateRun) {
    this.#run = run;
  }

  /**
   * Handles a wait from the agent (checked by `validateWaitRequest`).
   *
   * @returns The signal's payload, or `null` for a timer.
   * @throws {SignalTimeoutError} When a signal wait reaches its deadline.
   */
  async wait(request: CheckedWait): Promise<unknown> {
    const run = this.#run;
    run.throwIfFatal();
    if (request.step !== run.step) {
      throw new OaoError(
        "STALE_STEP",
        `Wait from step ${request.step} refused: the execution is at step ${run.step}`,
      );
    }
    run.ledger.enterRun(request.run);
    const { wait } = request;
    if (wait.kind === "timer") {
      await this.sleep(wait.until, request.step);
      return null;
    }
    return await this.signal(wait.name, wait.timeoutMs, request.step);
  }

  /** Waits until the timer is due (durably); resolves with its due time. */
  async sleep(until: number, step: number): Promise<number> {
    const run = this.#run;
    const key = await this.#key({ kind: "timer" }, step);
    const store = run.host.eventStore;
    if (await store.findByKey(run.executionId, `fired:${key}`)) return until;
    const started = await store.findByKey(run.executionId, `timer:${key}`);
    const due = started ? Number((started.data as { until: number }).until) : until;
    if (!started) await run.record("TIMER_STARTED", { until: due }, { step, key: `timer:${key}` });
    await this.#waitUntil(due, `timer until ${new Date(due).toISOString()}`);
    await run.record("TIMER_FIRED", { until: due }, { step, key: `fired:${key}` });
    return due;
  }

  /** Waits for the next signal of a name (durably); its payload, or a timeout error. */
  async signal(name: string, timeoutMs: number | undefined, step: number): Promise<unknown> {
    const run = this.#run;
    const key = await this.#key({ kind: "signal", name }, step);
    const store = run.host.eventStore;
    const done = await store.findByKey(run.executionId, `consumed:${key}`);
    if (done) return this.#answer(done, name);
    const waiting = await store.findByKey(run.executionId, `waiting:${key}`);
    let deadline = (waiting?.data as { deadline?: number | null } | undefined)?.deadline ?? null;
    if (!waiting) {
      deadline = timeoutMs === undefined ? null : run.host.clock.now() + timeoutMs;
      await run.record("WAITING_FOR_SIGNAL", { name, timeoutMs: timeoutMs ?? null, deadline }, {
        step,
        key: `waiting:${key}`,
      });
    }
    const end = beginDurableWait(run, {
      kind: "signal",
      what: `signal "${name}"`,
      data: { name },
      span: { "oao.signal.name": name },
    });
    let outcome = "interrupted";
    try {
      // Registered first: a signal sent after it wakes this wait; one sent before, #take finds.
      const watch = await run.host.wakes.watch(run.executionId, run.host.clock, run.signal);
      try {
        while (true) {
          watch.again(); // a wake from now on announces what the read below may miss
          const taken = await this.#take(name, key, step);
          if (taken) {
            outcome = "taken";
            return this.#answer(taken, name);
          }
          if (deadline !== null && run.host.clock.now() >= deadline) {
            outcome = "timed_out";
            const event = await run.record("SIGNAL_TIMED_OUT", { name, timeoutMs }, {
              step,
              key: `consumed:${key}`,
            });
            return this.#answer(event as unknown as StoredEvent, name);
          }
          await watch.wait(deadline);
          run.throwIfFatal();
        }
      } finally {
        watch.stop();
      }
    } finally {
      end(outcome);
    }
  }

  #answer(event: Pick<StoredEvent, "type" | "data">, name: string): unknown {
    const data = (event.data ?? {}) as { payload?: unknown; timeoutMs?: number };
    if (event.type === "SIGNAL_TIMED_OUT") throw new SignalTimeoutError(name, data.timeoutMs ?? 0);
    return data.payload ?? null;
  }

  // Takes the oldest unconsumed signal of the name, recording SIGNAL_CONSUMED.
  // Reads only what the log gained since the last take (this run owns the
  // execution: no other process consumes its signals meanwhile).
  #take(name: string, key: string, step: number): Promise<StoredEvent | undefined> {
    const take = this.#taking.then(async () => {
      const run = this.#run;
      const unread = await run.host.eventStore.readAfter(run.executionId, this.#readTo);
      for (const event of unread) this.#see(event);
      const next = this.#unconsumed.get(name)?.[0];
      if (!next) return undefined;
      const payload = (next.data as { payload?: unknown }).payload ?? null;
      // Recorded ahead: the agent goes on at once. Whatever it does next that
      // has an effect starts with an awaited record, which waits for this one;
      // if the process dies first, the step runs again and takes the signal again.
      const event = run.recordAhead("SIGNAL_CONSUMED", { name, receivedSeq: next.seq, payload }, {
        step,
        key: `consumed:${key}`,
      });
      this.#consume(name, next.seq);
      return event as unknown as StoredEvent;
    });
    this.#taking = take.catch(() => {});
    return take;
  }

  // Follows the signals of the log: received ones queue by name, consumed ones leave.
  #see(event: StoredEvent): void {
    this.#readTo = Math.max(this.#readTo, event.seq);
    const data = (event.data ?? {}) as { name?: unknown; receivedSeq?: unknown };
    if (typeof data.name !== "string") return;
    if (event.type === "SIGNAL_RECEIVED" && !this.#consumed.has(event.seq)) {
      const queue = this.#unconsumed.get(data.name);
      if (queue) queue.push(event);
      else this.#unconsumed.set(data.name, [event]);
    } else if (event.type === "SIGNAL_CONSUMED" && typeof data.receivedSeq === "number") {
      this.#consume(data.name, data.receivedSeq);
    }
  }

  #consume(name: string, receivedSeq: number): void {
    this.#consumed.add(receivedSeq);
    const queue = this.#unconsumed.get(name);
    const at = queue?.findIndex((e) => e.seq === receivedSeq) ?? -1;
    if (at >= 0) queue!.splice(at, 1);
    if (queue?.length === 0) this.#unconsumed.delete(name);
  }

  async #waitUntil(due: number, what: string): Promise<void> {
    const run = this.#run;
    const delay = due - run.host.clock.now();
    if (delay <= 0) return;
    const end = beginDurableWait(run, { kind: "timer", what, data: { until: due } });
    let outcome = "interrupted";
    try {
      await sleepOn(run.host.clock, delay, run.signal);
      outcome = "fired";
    } finally {
      end(outcome);
    }
  }

  async #key(what: Record<string, unknown>, step: number): Promise<string> {
    const hash = await sha256Hex(canonicalJson({ wait: what, step }));
    return callKey(hash, this.#run.ledger.nextOccurrence(hash));
  }
}

/**
 * A wait for a person or for time starts (a signal, a timer, an approval): it
 * pauses the execution's clocks (`HostWaits`) and is seen by the metrics
 * (`<KIND>_WAITING`, a local event); the returned function ends it, adding
 * `<KIND>_WAIT_ENDED` with its outcome and duration to the step's span and to
 * the local events.
 */
export function beginDurableWait(
  run: GateRun,
  wait: {
    kind: "signal" | "timer" | "approval";
    /** What is awaited, for the record. */
    what: string;
    /** The local events' data. */
    data: Record<string, unknown>;
    /** More attributes of the span event. */
    span?: Record<string, string>;
  },
): (outcome: string) => void {
  const { kind, what, data } = wait;
  const { bus, clock } = run.host;
  const started = clock.now();
  const endWait = run.waits.begin(what, { durable: true });
  const upper = kind.toUpperCase();
  bus.emitLocal({ type: `${upper}_WAITING`, time: started, executionId: run.executionId, data });
  return (outcome) => {
    endWait();
    const waitedMs = clock.now() - started;
    run.stepSpan?.addEvent(`${upper}_WAIT_ENDED`, {
      ...wait.span,
      [`oao.${kind}.outcome`]: outcome,
      [`oao.${kind}.waited_ms`]: waitedMs,
    });
    bus.emitLocal({
      type: `${upper}_WAIT_ENDED`,
      time: clock.now(),
      executionId: run.executionId,
      data: { ...data, outcome, waitedMs },
    });
  };
}
