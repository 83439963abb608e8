// How long an execution's data is kept: its events and the snapshots of its
// state live a retention (the host's, or DEFAULT_RETENTION_SECONDS) from
// their last write, and once the final event is written the snapshots
// expire with the events. Internal: used by an execution's run and its step
// loop.
import type { Logger } from "@logtape/logtape";
import { DEFAULT_RETENTION_SECONDS } from "../events/event_store.ts";
import { boundedErrorInfo } from "./_boundary.ts";
import type { RunHost } from "./_run_host.ts";

/**
 * The retention of the execution's events and snapshots, in seconds.
 *
 * @param host The run's host.
 * @returns Seconds.
 */
export function retentionSeconds(host: RunHost): number {
  return host.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
}

/**
 * Once the final event is written, the snapshots of the execution expire
 * with its events (a retention from now), never before them. Never throws:
 * they would expire a retention after their last save anyway.
 *
 * @param run The execution, its host, and where a failure is logged.
 */
export async function expireSnapshots(
  run: { readonly executionId: string; readonly host: RunHost; readonly log: Logger },
): Promise<void> {
  const host = run.host;
  try {
    await host.persistence.expireScope(run.executionId, retentionSeconds(host));
  } catch (error) {
    run.log.warn("Cannot set the expiry of the snapshots of {executionId}: {error}", {
      error: boundedErrorInfo(error, host.limits).message,
    });
  }
}
