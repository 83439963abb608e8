// The events an API node and worker nodes write to an execution's log around
// the job queue, shared by `queue_backend.ts` and `worker_node.ts`. Internal.
import type { EventStore } from "../events/event_store.ts";

/** Written by the API node once the job is enqueued: agent, task, policy, job id. */
export const EXECUTION_QUEUED = "EXECUTION_QUEUED";
/** Written by the API node on cancel; the running worker polls for it. */
export const CANCEL_REQUESTED = "CANCEL_REQUESTED";
/** Index key of {@linkcode CANCEL_REQUESTED} (`EventStore.findByKey`). */
export const CANCEL_KEY = "cancel-requested";

/**
 * The reason of a pending cancellation request, if any.
 *
 * @param store The event store.
 * @param executionId The execution.
 * @returns The reason (possibly empty), or `undefined` when none was requested.
 */
export async function cancelRequest(
  store: EventStore,
  executionId: string,
): Promise<string | undefined> {
  const event = await store.findByKey(executionId, CANCEL_KEY);
  if (!event) return undefined;
  const reason = (event.data as { reason?: unknown } | undefined)?.reason;
  return typeof reason === "string" ? reason : "";
}
