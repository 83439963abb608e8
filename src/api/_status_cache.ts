/**
 * The answers of `GET /executions/:id`, kept by the last event they were
 * read at. A poll reads only the log's last event (`EventStore.latest`):
 * when it is the one an answer was built from, the answer stands — logs are
 * append-only, and an event id is unique, so a log that expired and started
 * again never matches — and the whole log is neither read nor projected
 * again.
 *
 * Why: status polling is the API's most frequent request, and reading and
 * projecting a finished execution's whole log on every poll was most of its
 * cost (`bench/http_bench.ts`, `http.get_execution.rps`).
 *
 * @module
 */
import type { StoredEvent } from "../events/event_store.ts";

/** Answers kept: the oldest is dropped beyond this. */
const LIMIT = 2_000;

/** @internal An answer as served: its body and its entity tag. */
export interface _CachedStatus {
  body: string;
  tag: string;
}

/** @internal The cache of one API application. */
export class _StatusCache {
  #entries = new Map<string, { at: string; answer: _CachedStatus }>();

  /** The answer built at `last`, if it is the one kept. */
  get(executionId: string, last: Pick<StoredEvent, "id" | "seq">): _CachedStatus | undefined {
    const entry = this.#entries.get(executionId);
    return entry?.at === `${last.seq}:${last.id}` ? entry.answer : undefined;
  }

  /** Keeps the answer built from a log whose last event is `last`. */
  set(executionId: string, last: Pick<StoredEvent, "id" | "seq">, answer: _CachedStatus): void {
    this.#entries.delete(executionId);
    this.#entries.set(executionId, { at: `${last.seq}:${last.id}`, answer });
    if (this.#entries.size > LIMIT) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }
}
