// What the host does with the messages of an actor's worker that its cell
// does not handle itself (lifecycle, snapshots, failures): requests go to
// GuestRequests; spans, log records, undeliverable and dropped messages are
// reported, bounded and attributed to the actor whatever they claim; dead
// letters are kept. Internal.
import type { Logger } from "@logtape/logtape";
import type { Clock } from "../clock.ts";
import type { ErrorInfo } from "../oao_error.ts";
import { boundErrorInfo, type Limits, truncateText } from "../limits.ts";
import type { EventBus } from "../observability/event_bus.ts";
import type { Tracer } from "../tracing/tracer.ts";
import { exportWorkerSpans } from "../tracing/_packed_spans.ts";
import type { ActorCell } from "./_actor_cell.ts";
import type { EventPublisher } from "./_event_publisher.ts";
import type { GuestRequests } from "./_guest_requests.ts";
import type { WorkerToHost } from "./_protocol.ts";
import { _SecondBudgets, LOG_BUDGET } from "./_second_budget.ts";

/**
 * A message set aside after failing on every delivery.
 *
 * @example
 * ```ts
 * import type { DeadLetter } from "./actor_system.ts";
 * const shown = (d: DeadLetter) => `${d.from} → ${d.actor} #${d.seq}: ${d.error.message}`;
 * console.assert(typeof shown === "function");
 * ```
 */
export interface DeadLetter {
  /** The actor that could not handle it. */
  actor: string;
  /** The sender. */
  from: string;
  /** Its sequence number on the sender's link. */
  seq: number;
  /** The message. */
  message: unknown;
  /** Deliveries that failed. */
  attempts: number;
  /** The last error. */
  error: ErrorInfo;
  /** Epoch ms. */
  time: number;
}

/** What {@linkcode GuestMessages} needs from its actor system. */
export interface GuestMessagesOptions {
  /** Handles `connect` and `request` messages. */
  readonly requests: GuestRequests;
  /** Publishes runtime events. */
  readonly publisher: EventPublisher;
  /** The system's bus, for events that only local listeners see. */
  readonly bus: EventBus;
  /** Stamps dead letters and local events. */
  readonly clock: Clock;
  /** Receives the workers' spans when it has a sink. */
  readonly tracer: Tracer;
  /** Bounds on what workers send. */
  readonly limits: Limits;
  /** The logger workers' log records are written to. */
  readonly log: Logger;
}

/** Handles what actors' workers send the host besides their lifecycle. */
export class GuestMessages {
  /** Messages set aside after failing on every delivery, oldest first. */
  readonly deadLetters: DeadLetter[] = [];
  readonly #options: GuestMessagesOptions;
  readonly #logBudgets: _SecondBudgets<ActorCell>;

  /** @param options The system's request handler, events, clock, tracer, limits and logger. */
  constructor(options: GuestMessagesOptions) {
    this.#options = options;
    this.#logBudgets = new _SecondBudgets(options.clock, LOG_BUDGET);
  }

  /**
   * Acts on a message of `cell`'s worker, already checked against the protocol.
   *
   * @param cell The actor whose worker sent it.
   * @param message The message.
   */
  onWorkerMessage(cell: ActorCell, message: WorkerToHost): void {
    switch (message.k) {
      case "connect":
        return this.#options.requests.connect(cell, message);
      case "request":
        return void this.#options.requests.handle(cell, message.id, message.request);
      case "spans": {
        // Spans are the actor's own: packed ones are attributed to it, whatever they claim.
        for (const chunk of message.packed ?? []) {
          if (chunk && typeof chunk === "object") chunk.actor = cell.path;
        }
        const tracer = this.#options.tracer;
        if (tracer.sink) exportWorkerSpans(tracer.sink, message.spans, message.packed);
        return;
      }
      case "logs": {
        const max = this.#options.limits.maxLogMessageChars;
        for (const record of message.records) {
          const taken = this.#logBudgets.take(
            cell,
            typeof record.message === "string" ? record.message.length : 0,
          );
          if (taken === "over") this.#saidOver(cell);
          if (taken !== "ok") continue;
          const props = boundProperties(record.properties, max);
          props.actor = cell.path;
          if (cell.options.executionId) props.executionId = cell.options.executionId;
          const logger = this.#options.log.with(props);
          const level = record.level === "warning" ? "warn" : record.level;
          const text = truncateText(record.message, max);
          logger[level](text.replaceAll("{", "{{").replaceAll("}", "}}"));
        }
        return;
      }
      case "undeliverable":
        if (!cell.targets.has(message.target)) {
          return cell.violation(
            `undeliverable report for "${message.target.slice(0, 200)}", which it never sent to`,
          );
        }
        return this.#options.requests.report(cell, "MESSAGE_UNDELIVERABLE", {
          actor: message.target,
          from: cell.path,
          error: boundErrorInfo(message.error, this.#options.limits),
        });
      case "dropped":
        if (!cell.inbound.has(message.key)) return;
        this.#options.bus.emitLocal({
          type: "MESSAGE_DROPPED",
          time: this.#options.clock.now(),
          data: { actor: cell.path, from: message.from, seq: message.seq, policy: message.policy },
        });
        return;
      default:
        return;
    }
  }

  // Once a second at most: the actor's records are dropped for the rest of it.
  #saidOver(cell: ActorCell): void {
    this.#options.log.with({ actor: cell.path }).warn(
      `Actor {actor} logged more than ${LOG_BUDGET.count} records or ${LOG_BUDGET.size} characters within a second: its records are dropped for the rest of that second`,
    );
  }

  /**
   * Keeps a message `cell`'s worker gave up on and publishes `MESSAGE_DEAD_LETTERED`.
   *
   * @param cell The actor that could not handle it.
   * @param message Its worker's report, already checked by the cell.
   */
  onDeadLetter(cell: ActorCell, message: Extract<WorkerToHost, { k: "dead-letter" }>): void {
    const from = message.from;
    this.deadLetters.push({
      actor: cell.path,
      from,
      seq: message.seq,
      message: message.body,
      attempts: message.attempts,
      error: message.error,
      time: this.#options.clock.now(),
    });
    void this.#options.publisher.emit("MESSAGE_DEAD_LETTERED", {
      actor: cell.path,
      from,
      seq: message.seq,
      attempts: message.attempts,
      error: message.error,
      message: message.body,
    }, cell.options.executionId);
  }
}

// Log properties from a worker: string values cut to the limit, at most 100 keys.
function boundProperties(
  properties: Record<string, unknown>,
  max: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [key, value] of Object.entries(properties)) {
    if (++n > 100) break;
    out[key.slice(0, 200)] = typeof value === "string" ? truncateText(value, max) : value;
  }
  return out;
}
