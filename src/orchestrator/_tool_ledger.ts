// Per-execution memory of tool calls: occurrence counters (reset to the
// step's starting values when a step is retried, so a retried step's calls
// are recognised as replays) and the outcomes recorded by this process, so
// that a fresh execution needs no store lookups. After a resume the store's
// key index is consulted for what this process has not seen. Calls still
// running are remembered too: a step that is run again (its worker restarted,
// or its execution activated after passivation) joins them instead of
// starting them twice. Internal.
import type { ErrorInfo } from "../errors.ts";

export type Outcome = { ok: true; result: unknown } | { ok: false; error?: ErrorInfo };

export class ToolLedger {
  #counts: Map<string, number>;
  #stepStart: Map<string, number>;
  #run: string | undefined;
  #outcomes = new Map<string, Outcome>();
  #intents = new Set<string>();
  #running = new Map<string, Promise<Outcome>>();
  #failedThisAttempt = new Set<string>();
  #finalFailure: ErrorInfo | undefined;
  /** True when the execution was resumed: unseen keys may exist in the store. */
  readonly resumed: boolean;

  constructor(initial: Map<string, number>, resumed: boolean) {
    this.#counts = new Map(initial);
    this.#stepStart = new Map(initial);
    this.resumed = resumed;
  }

  /** Starts an attempt of a step: counters go back to the step's start. */
  beginAttempt(firstAttempt: boolean): void {
    if (firstAttempt) this.#stepStart = new Map(this.#counts);
    else this.#counts = new Map(this.#stepStart);
    this.#run = undefined;
    this.#failedThisAttempt.clear();
    this.#finalFailure = undefined;
  }

  /**
   * Notes that a call of this attempt failed for good: making it again in a
   * retry of the step would fail the same way (a model call whose own
   * retries are spent, or refused for its configuration), so the step is
   * not retried when it fails with that call's error.
   */
  markFinal(error: ErrorInfo): void {
    this.#finalFailure = error;
  }

  /** The error of a call of this attempt that failed for good, if any. */
  get finalFailure(): ErrorInfo | undefined {
    return this.#finalFailure;
  }

  /**
   * The same attempt of the step runs again from its start (an activation
   * after passivation): its calls are recognised as replays, and a call that
   * failed in this attempt fails again the same way.
   */
  replay(): void {
    this.#counts = new Map(this.#stepStart);
    this.#run = undefined;
  }

  /** A call that failed earlier in this attempt, with its recorded error. */
  failedInAttempt(key: string): ErrorInfo | undefined {
    const outcome = this.#outcomes.get(key);
    return outcome && !outcome.ok && this.#failedThisAttempt.has(key) ? outcome.error : undefined;
  }

  /** The outcome of a call still running, to join instead of running it again. */
  running(key: string): Promise<Outcome> | undefined {
    return this.#running.get(key);
  }

  /** Notes a call that runs until `outcome` settles. */
  start(key: string, outcome: Promise<Outcome>): void {
    this.#running.set(key, outcome);
    void outcome.finally(() => {
      if (this.#running.get(key) === outcome) this.#running.delete(key);
    });
  }

  /**
   * Notes which run of the step a call comes from (attempt and worker
   * incarnation). A step re-run by a restarted worker starts its counters
   * again from the step's start, so its calls are recognised as replays.
   */
  enterRun(run: string): void {
    if (this.#run !== undefined && this.#run !== run) this.#counts = new Map(this.#stepStart);
    this.#run = run;
  }

  /** Occurrence number of the next call with this hash. */
  nextOccurrence(hash: string): number {
    const n = (this.#counts.get(hash) ?? 0) + 1;
    this.#counts.set(hash, n);
    return n;
  }

  intent(key: string): void {
    this.#intents.add(key);
  }

  hasIntent(key: string): boolean {
    return this.#intents.has(key);
  }

  outcome(key: string): Outcome | undefined {
    return this.#outcomes.get(key);
  }

  record(key: string, outcome: Outcome): void {
    this.#outcomes.set(key, outcome);
    if (!outcome.ok) this.#failedThisAttempt.add(key);
    else this.#failedThisAttempt.delete(key);
  }
}
