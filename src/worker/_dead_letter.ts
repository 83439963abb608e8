// Dead-lettering inside an actor worker: a message the host saw fail on
// every delivery it allows (a poison message) is reported to the host
// instead of handled, and its ask, if any, fails. Internal.
import type { PoisonEntry, WorkerToHost } from "../actor/_protocol.ts";
import { ActorFailedError } from "../actor/actor_errors.ts";
import { toErrorInfo } from "../oao_error.ts";
import { type Item, sendReply } from "./_inbound_links.ts";

/** Where a dead letter goes. */
export interface DeadLetterOptions {
  /** The actor's path. */
  path: string;
  /** Sends a message to the host. */
  post(message: WorkerToHost): void;
}

/**
 * Reports `item` to the host as a dead letter (without its body if that
 * cannot be cloned) and fails its ask. The caller completes the message.
 *
 * @param item The message, taken from the inbox.
 * @param entry Why the host wants it dead-lettered.
 * @param options Where it goes.
 */
export function deadLetter(item: Item, entry: PoisonEntry, options: DeadLetterOptions): void {
  const { link, seq } = item;
  const { path, post } = options;
  try {
    post({
      k: "dead-letter",
      key: link.key,
      from: link.from,
      seq,
      body: item.body,
      error: entry.error,
      attempts: entry.attempts,
    });
  } catch {
    post({
      k: "dead-letter",
      key: link.key,
      from: link.from,
      seq,
      body: null,
      error: entry.error,
      attempts: entry.attempts,
    });
  }
  if (item.ask !== undefined) {
    const error = new ActorFailedError(
      path,
      `message dead-lettered after ${entry.attempts} failed deliveries: ${entry.error.message}`,
    );
    sendReply(link, item.ask, false, toErrorInfo(error));
  }
}
