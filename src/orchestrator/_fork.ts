// The log a fork starts with: the history of another execution up to the
// end of one of its completed steps, under the fork's own hash and policy.
// The fork is then resumed from it like any execution whose process died,
// so the tool calls of the shared steps are answered from the copied log.
// Internal.
import type { EventStore, StoredEvent } from "../events/event_store.ts";
import type { ExecutionView } from "./execution_view.ts";
import type { PolicyLimits } from "./policy.ts";

/**
 * Checks that a fork of an execution can start from a step.
 *
 * @throws {RangeError} When `fromStep` is not a completed step of `source`.
 */
export function assertForkable(source: ExecutionView, fromStep: number): void {
  if (!source.completed.has(fromStep)) {
    throw new RangeError(
      `Cannot fork "${source.executionId}" from step ${
        JSON.stringify(fromStep)
      }: it is not a completed step (completed: ${
        [...source.completed.keys()].join(", ") || "none"
      })`,
    );
  }
}

/** How a fork's log is written. */
export interface ForkLog {
  /** The execution forked. */
  from: string;
  /** The fork. */
  to: string;
  /** Its last step the fork shares. */
  fromStep: number;
  /** The fork's execution hash. */
  hash: string;
  /** The fork's policy limits. */
  policy: Readonly<PolicyLimits>;
  /** Retention of the fork's log, in seconds. */
  retentionSeconds: number | undefined;
}

/**
 * Writes the log of a fork: the events of `from` up to the end of step
 * `fromStep`, its EXECUTION_STARTED with the fork's hash and policy (and
 * where it was forked from, without the trace parent), its resumptions left
 * out.
 */
export async function writeForkLog(
  store: EventStore,
  events: readonly StoredEvent[],
  fork: ForkLog,
): Promise<void> {
  const { from, fromStep, hash, policy, retentionSeconds } = fork;
  const cut = events.findIndex((e) => e.type === "STEP_COMPLETED" && e.step === fromStep);
  const retention = retentionSeconds === undefined ? {} : { expire: retentionSeconds };
  for (const event of events.slice(0, cut + 1)) {
    if (event.type === "EXECUTION_RESUMED") continue;
    const { executionId: _id, seq: _seq, id: _eventId, ...input } = event;
    if (event.type === "EXECUTION_STARTED") {
      const { traceparent: _trace, ...data } = event.data ?? {};
      input.data = {
        ...data,
        hash,
        policy,
        forkedFrom: { executionId: from, step: fromStep },
      };
    }
    await store.appendEvent(fork.to, input, retention);
  }
}
