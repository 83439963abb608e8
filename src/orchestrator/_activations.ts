// A step asked of the agent's worker, one activation after another: the
// step's time limit (with the host's backstop to the worker's watchdog),
// passivation while the step waits on the host, and activation once nothing
// is pending. Internal: each ExecutionRun has one.
import { OaoError } from "../errors.ts";
import type { OaoEvent } from "../observability/events.ts";
import type { Span } from "../tracing/tracer.ts";
import type { StepMessage } from "./agent.ts";
import type { LifecycleState } from "./lifecycle.ts";
import type { StrictPolicy } from "./policy.ts";
import type { HostWaits } from "./_host_waits.ts";
import type { RunClocks } from "./_run_clocks.ts";
import type { RunHost } from "./_run_host.ts";
import { type RunWorkers, stepTimeoutMs } from "./_run_workers.ts";
import type { ToolLedger } from "./_tool_ledger.ts";

/** What the step's ask resolves to when the execution was passivated instead of answered. */
const PASSIVATED: unique symbol = Symbol("passivated");

/** How long after a step's time limit the host stops it when the worker's watchdog did not. */
const STEP_TIMEOUT_GRACE_MS = 1_000;

/** An attempt of a step ran longer than the policy allows; its worker was stopped. */
class StepTimeoutError extends OaoError {
  constructor(limit: "stepTimeoutMs" | "timeoutMs", ms: number) {
    super(
      "STEP_TIMEOUT",
      `The step ran longer than the policy's ${limit} (${ms} ms): its worker was stopped`,
    );
  }
}

/** What the activations need from their execution's run. */
export interface ActivationRun {
  readonly host: RunHost;
  readonly policy: StrictPolicy;
  readonly ledger: ToolLedger;
  readonly waits: HostWaits;
  readonly clocks: RunClocks;
  /** The step running now, and its lifecycle state. */
  readonly step: number;
  readonly phase: LifecycleState;
  readonly stepSpan: Span | undefined;
  /** Set when the step runs again after an activation: its calls so far are answered. */
  replaying: boolean;
  throwIfFatal(): void;
  record(
    type: string,
    data: Record<string, unknown>,
    extra?: { step?: number; key?: string },
  ): Promise<OaoEvent>;
}

export class Activations {
  readonly #run: ActivationRun;
  readonly #workers: RunWorkers;
  #attemptTimeout: ((error: Error) => void) | undefined;
  #onPassivate: (() => void) | undefined; // set while a step's activation is asked

  /**
   * @param run The execution's run.
   * @param workers Its workers, asked for the step.
   */
  constructor(run: ActivationRun, workers: RunWorkers) {
    this.#run = run;
    this.#workers = workers;
  }

  /** The step has waited on the host long enough (`HostWaits`): the activation asked is passivated. */
  waitedLong(): void {
    this.#onPassivate?.();
  }

  /**
   * Sends the step message and waits for the answer, or for the agent's
   * worker to exceed its time limit on it: that attempt then fails at once,
   * without the actor system's redelivery of the step to a restarted worker.
   * The actor system's watchdog reads status words the worker itself writes,
   * so a host timer (a little later, to let the watchdog speak first) backs it
   * up against a worker that hides its busy loop.
   *
   * A step that waits on the host long enough is passivated: its worker is
   * given back while the host work goes on, and once nothing is pending the
   * execution is activated again and the step runs again from its start,
   * its calls answered from the ledger (the step must be deterministic
   * between calls, as for a resume after a crash).
   * The step's time limit counts from its first activation, passivated or
   * not, except while it waits for a person or for time (`HostWaits`).
   *
   * @param message The step message.
   * @returns The agent's reply, unchecked.
   * @throws {StepTimeoutError} The step ran past its time limit.
   * @throws {Error} The worker failed, or the execution is ending.
   */
  async ask(message: StepMessage): Promise<unknown> {
    const run = this.#run;
    const budget = run.clocks.budget(stepTimeoutMs(run.policy));
    for (let activation = 1;; activation++) {
      const reply = await this.#askActivation(message, budget, activation === 1);
      if (reply !== PASSIVATED) return reply;
      const passivatedAt = run.host.clock.now();
      await this.#passivate();
      await this.#whenWaitsEnd(budget);
      run.throwIfFatal();
      // Its workers start while the activation is recorded.
      await Promise.all([this.#activate(passivatedAt), this.#workers.ensure()]);
    }
  }

  // Resolves when nothing the step awaits is pending; rejects at the step's time limit.
  async #whenWaitsEnd(budget: () => number): Promise<void> {
    let cancel = () => {};
    try {
      await Promise.race([
        this.#run.waits.whenNone(),
        new Promise<never>((_, reject) => {
          cancel = this.#run.clocks.whenSpent(budget, () => reject(this.#stepTimeoutError()));
        }),
      ]);
    } finally {
      cancel();
    }
  }

  #stepTimeoutError(): StepTimeoutError {
    const { timeoutMs, stepTimeoutMs: stepMs } = this.#run.policy.limits;
    const limit = stepMs <= timeoutMs ? "stepTimeoutMs" : "timeoutMs";
    return new StepTimeoutError(limit, stepTimeoutMs(this.#run.policy));
  }

  // `first`: the step's first activation, which the actor's own watchdog
  // times; the host's timer is then only its backstop (see onStepTimeout).
  async #askActivation(
    message: StepMessage,
    budget: () => number,
    first: boolean,
  ): Promise<unknown> {
    const run = this.#run;
    const { system } = run.host;
    const asked = system.ask<unknown>(this.#workers.agentPath, message, {
      timeoutMs: Infinity,
      trace: run.stepSpan!.context,
    });
    asked.catch(() => {}); // still pending when the attempt times out
    const timedOut = new Promise<never>((_, reject) => {
      this.#attemptTimeout = reject;
    });
    const passivated = new Promise<typeof PASSIVATED>((resolve) => {
      this.#onPassivate = () => resolve(PASSIVATED);
    });
    const grace = first ? STEP_TIMEOUT_GRACE_MS : 0;
    const cancelBackstop = run.clocks.whenSpent(
      () => budget() + grace,
      () => this.onStepTimeout(first),
    );
    try {
      return await Promise.race([asked, timedOut, passivated]);
    } finally {
      this.#attemptTimeout = undefined;
      this.#onPassivate = undefined;
      cancelBackstop();
    }
  }

  // The step waits on the host: its workers are given back.
  async #passivate(): Promise<void> {
    const run = this.#run;
    await this.#workers.stop("immediate");
    const waitingOn = run.waits.waitingOn;
    run.stepSpan?.addEvent("EXECUTION_PASSIVATED", { "oao.waiting_on": waitingOn.join(", ") });
    await run.record("EXECUTION_PASSIVATED", {
      state: run.phase,
      waitingOn,
      afterMs: run.host.passivateAfterMs,
    }, { step: run.step });
  }

  // What the step waited on is done: it runs again, its calls answered from the ledger.
  async #activate(passivatedAt: number): Promise<void> {
    const run = this.#run;
    run.ledger.replay();
    run.replaying = true;
    const passivatedMs = run.host.clock.now() - passivatedAt;
    run.stepSpan?.addEvent("EXECUTION_ACTIVATED", { "oao.passivated_ms": passivatedMs });
    await run.record("EXECUTION_ACTIVATED", { state: run.phase, passivatedMs }, {
      step: run.step,
    });
  }

  /**
   * The agent's worker exceeded its time limit (messageTimeoutMs) on a step,
   * by the actor system's watchdog or by the host's backstop timer: the
   * attempt asked fails (nothing when none is).
   *
   * @param hidden The backstop fired, so the worker hid its busy loop from the
   * watchdog: its code is presumed still running, and its runtime discards it.
   */
  onStepTimeout(hidden = false): void {
    const reject = this.#attemptTimeout;
    if (!reject) return;
    this.#attemptTimeout = undefined;
    reject(this.#stepTimeoutError());
    // Fresh workers for the next attempt: no redelivery of the step that timed out.
    this.#workers.terminate(hidden);
  }
}
