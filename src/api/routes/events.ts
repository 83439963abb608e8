/**
 * Routes of an execution's timeline: `GET /executions/:id/events` (a page
 * of events after a sequence number) and `GET /executions/:id/stream`
 * (Server-Sent Events: the backlog, then live events, resumable with
 * `Last-Event-ID`; the stream ends after the execution's final event with
 * an `end` event).
 *
 * @module
 */
import { checkId, checkInteger, integerParam, json } from "../_http.ts";
import type { Route } from "../route.ts";
import { notFound } from "./executions.ts";
import type { StoredEvent } from "../../events/event_store.ts";

const FINAL = new Set(["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"]);
const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** `GET /executions/:id/events?after=<seq>&limit=<n>`: the timeline, in pages. */
export const listEvents: Route = {
  method: "GET",
  path: "/executions/:id/events",
  summary: "Timeline of an execution",
  async handle({ url, params, deps }) {
    const id = checkId(params.id);
    const after = integerParam(url, "after", { min: 0, max: MAX_SEQ }) ?? 0;
    const limit = integerParam(url, "limit", { min: 1, max: 1000 }) ?? 1000;
    if ((await deps.eventStore.count(id)) === 0) throw notFound(id);
    const events = await deps.eventStore.readAfter(id, after, limit);
    return json({
      executionId: id,
      events,
      nextAfter: events.at(-1)?.seq ?? after,
      final: events.some((e) => FINAL.has(e.type)),
    });
  },
};

/** `GET /executions/:id/stream`: Server-Sent Events, `id:` = event seq. */
export const streamEvents: Route = {
  method: "GET",
  path: "/executions/:id/stream",
  summary: "Live events of an execution (Server-Sent Events)",
  async handle({ request, url, params, deps }) {
    const id = checkId(params.id);
    const header = request.headers.get("last-event-id");
    const after = header !== null && header.trim() !== ""
      ? checkInteger(header, "Last-Event-ID header", { min: 0, max: MAX_SEQ })
      : integerParam(url, "after", { min: 0, max: MAX_SEQ }) ?? 0;
    const log = await deps.eventStore.readRange(id);
    if (log.length === 0) throw notFound(id);
    const finalEvent = log.find((e) => FINAL.has(e.type));
    // The stream ends with the final event: housekeeping recorded after it
    // (actors stopping) is left to GET /events, so a live and a replayed
    // stream carry the same events.
    const backlog = log.filter((e) => e.seq > after && (!finalEvent || e.seq <= finalEvent.seq));
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, request.signal, deps.shutdown]);
    const encoder = new TextEncoder();
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const send = (text: string) => {
          try {
            controller.enqueue(encoder.encode(text));
          } catch {
            stop.abort();
          }
        };
        keepAlive = setInterval(() => send(": keep-alive\n\n"), deps.keepAliveMs);
        (async () => {
          send("retry: 2000\n\n");
          let last: StoredEvent | undefined = finalEvent;
          for (const event of backlog) send(_frame(event));
          if (!finalEvent) {
            const from = backlog.at(-1)?.seq ?? after;
            for await (const event of deps.eventStore.subscribe(id, { afterSeq: from, signal })) {
              send(_frame(event));
              if (FINAL.has(event.type)) {
                last = event;
                break;
              }
            }
          }
          if (last && !signal.aborted) {
            const status = last.type === "EXECUTION_COMPLETED"
              ? "SUCCESS"
              : last.type === "EXECUTION_FAILED"
              ? "FAILED"
              : "CANCELLED";
            send(
              `event: end\ndata: ${JSON.stringify({ executionId: id, status, seq: last.seq })}\n\n`,
            );
          }
        })().catch(() => {}).finally(() => {
          clearInterval(keepAlive);
          stop.abort();
          try {
            controller.close();
          } catch {
            // Already cancelled by the client.
          }
        });
      },
      cancel() {
        clearInterval(keepAlive);
        stop.abort();
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  },
};

function _frame(event: StoredEvent): string {
  return `id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`;
}
