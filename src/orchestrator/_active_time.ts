// The running time of an execution read from its log (`ExecutionView.activeMs`):
// the stretches from its start or a resume to the last event before the next
// resume, without the waits for a person or for time — signals, approvals and
// timers — which pause the execution's clocks as they do in a live run
// (`_host_waits.ts`). A resumed run starts its clocks from this. Internal.
import type { StoredEvent } from "../events/event_store.ts";

// Events that open and close a wait, by the key they are indexed under.
const OPENS: Record<string, string> = {
  WAITING_FOR_SIGNAL: "waiting:",
  TIMER_STARTED: "timer:",
  APPROVAL_REQUESTED: "approval-requested:",
};
const CLOSES: Record<string, string> = {
  SIGNAL_CONSUMED: "consumed:",
  SIGNAL_TIMED_OUT: "consumed:",
  TIMER_FIRED: "fired:",
  APPROVAL_DECIDED: "approval:",
  APPROVAL_TIMED_OUT: "approval:",
};
// Waits belong to a step: a step's end closes those its log left open.
const STEP_ENDS = new Set(["STEP_COMPLETED", "STEP_FAILED"]);

export class ActiveTime {
  #ms = 0;
  #since: number;
  #open = new Set<string>();

  /** @param startedAt Time of the execution's first event. */
  constructor(startedAt: number) {
    this.#since = startedAt;
  }

  /**
   * Takes the next event of the log into account.
   *
   * @param previous Time of the last event of the run a resume ends.
   */
  see(event: Pick<StoredEvent, "type" | "time" | "key">, previous: () => number): void {
    if (event.type === "EXECUTION_RESUMED") {
      if (this.#open.size === 0) this.#ms += Math.max(0, previous() - this.#since);
      this.#since = event.time;
      return;
    }
    const opens = OPENS[event.type];
    if (opens !== undefined && event.key?.startsWith(opens)) {
      if (this.#open.size === 0) this.#ms += Math.max(0, event.time - this.#since);
      this.#open.add(`${event.type[0]}${event.key.slice(opens.length)}`);
      return;
    }
    const closes = CLOSES[event.type];
    if (closes !== undefined && event.key?.startsWith(closes)) {
      const id = `${opener(event.type)}${event.key.slice(closes.length)}`;
      if (this.#open.delete(id) && this.#open.size === 0) this.#since = event.time;
      return;
    }
    if (STEP_ENDS.has(event.type) && this.#open.size > 0) {
      this.#open.clear();
      this.#since = event.time;
    }
  }

  /** The running time through the last event seen, at `lastEventAt`. */
  total(lastEventAt: number): number {
    return this.#open.size > 0 ? this.#ms : this.#ms + Math.max(0, lastEventAt - this.#since);
  }
}

// The first letter of the type that opens a wait closed by `type`.
function opener(type: string): string {
  return type.startsWith("SIGNAL") ? "W" : type.startsWith("TIMER") ? "T" : "A";
}
