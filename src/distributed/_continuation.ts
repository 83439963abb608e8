// Jobs that continue an execution a worker node started before, enqueued by
// an API node: after an operator's decision (QueueBackend.resolve) or on a
// resume request (QueueBackend.resume). Internal.
//
// A continuation is an ordinary execution job — the execution's id, agent
// and task, as its log records them — whose options say `resume: true`: the
// worker that takes it continues the execution from its log (as it does for
// a reclaimed or retried job) instead of starting it. The agent routes it to
// a worker that runs that agent. The recorded policy comes from the log, so
// the job carries none.
//
// Its idempotency key names the execution and the sequence number of the
// last event of its log: two requests made on the same state of the log
// enqueue one job (a second resume clicked before a worker took the first);
// once a worker wrote anything, a new request makes a new job.
import type { StoredEvent } from "../events/event_store.ts";
import type { ExecutionView } from "../orchestrator/execution_view.ts";
import type { EnqueueOptions, EnqueueResult, JobQueue, JobSpec } from "../queue/job_queue.ts";
import { CONTINUE_KEY_PREFIX } from "../queue/_reserved_keys.ts";

/** The option of a job that continues a started execution instead of starting it. */
export const CONTINUE_OPTION = "resume";

/**
 * Enqueues the job that continues an execution on a worker node.
 *
 * @param queue The queue shared with the worker nodes.
 * @param execution The execution's view and its log (the last event names the state continued).
 * @param options Enqueue options (attempts); the idempotency key is set here.
 * @returns The job, `duplicate` when a job for this state of the log was enqueued already.
 * @throws {StoreUnavailableError} When the queue cannot be reached.
 */
export async function enqueueContinuation(
  queue: JobQueue,
  execution: { view: ExecutionView; events: readonly StoredEvent[] },
  options: EnqueueOptions = {},
): Promise<EnqueueResult> {
  const { view, events } = execution;
  const spec: JobSpec = {
    executionId: view.executionId,
    agent: view.agent,
    task: view.task ?? null,
    options: { [CONTINUE_OPTION]: true },
  };
  const last = events.at(-1)?.seq ?? 0;
  const key = `${CONTINUE_KEY_PREFIX}${view.executionId}@${last}`;
  const enqueued = await queue.enqueue(spec, { ...options, idempotencyKey: key });
  // A submit's own key that is this one (accepted before submits refused
  // the prefix) names another execution: not a repeat.
  if (enqueued.duplicate && enqueued.executionId !== view.executionId) {
    return await queue.enqueue(spec, options);
  }
  return enqueued;
}
