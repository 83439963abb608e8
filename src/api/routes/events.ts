/**
 * Routes of an execution's timeline: `GET /executions/:id/events` (a page
 * of events after a sequence number) and `GET /executions/:id/stream`
 * (Server-Sent Events: the backlog, then live events, resumable with
 * `Last-Event-ID`; the stream ends after the execution's final event with
 * an `end` event).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { checkInteger, conditional, json } from "../_http.ts";
import { publicEvent } from "../_public.ts";
import type { ApiRoute } from "../route.ts";
import { EventsPageSchema, ExecutionIdParams, integerQuery, MAX_SEQ } from "../schemas.ts";
import { notFound } from "./executions.ts";
import { ID_ANSWERS, jsonContent } from "./_responses.ts";
import type { EventStore, StoredEvent } from "../../events/event_store.ts";
import {
  deltasInProgress,
  type TextDelta,
  textDeltaLogId,
  toTextDelta,
} from "../../orchestrator/_text_deltas.ts";

const FINAL = new Set(["EXECUTION_COMPLETED", "EXECUTION_FAILED", "EXECUTION_CANCELLED"]);

const after = (description: string) =>
  integerQuery({ min: 0, max: MAX_SEQ, default: 0, description });

/** `GET /executions/:id/events?after=<seq>&limit=<n>`: the timeline, in pages. */
export const listEvents: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/executions/{id}/events",
    operationId: "listEvents",
    summary: "Timeline of an execution, in pages (answers carry an ETag)",
    request: {
      params: ExecutionIdParams,
      query: z.object({
        after: after("Only events with a greater sequence number"),
        limit: integerQuery({
          min: 1,
          max: 1000,
          default: 1000,
          description: "At most this many events",
        }),
      }),
    },
    responses: {
      200: { description: "Events", content: jsonContent(EventsPageSchema) },
      304: { description: "Not modified since the ETag given in If-None-Match" },
      ...ID_ANSWERS,
    },
  }),
  produces: ["application/json"],
  async handle(c, { params, query }, deps) {
    const id = params.id!;
    const after = (query.after as number | undefined) ?? 0;
    const limit = (query.limit as number | undefined) ?? 1000;
    if ((await deps.eventStore.count(id)) === 0) throw notFound(id);
    const events = await deps.eventStore.readAfter(id, after, limit);
    const last = events.at(-1)?.seq ?? after;
    // Events are immutable: the page is known by its bounds.
    return conditional(c.req.raw, `${after}-${limit}-${events.length}-${last}`, () =>
      json({
        executionId: id,
        events: events.map(publicEvent),
        nextAfter: last,
        final: events.some((e) => FINAL.has(e.type)),
      }));
  },
};

/** `GET /executions/:id/stream`: Server-Sent Events, `id:` = event seq. */
export const streamEvents: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/executions/{id}/stream",
    operationId: "streamEvents",
    summary: "Live events (Server-Sent Events)",
    description:
      "The backlog after Last-Event-ID (or ?after=), then live events as they are recorded. Each message has `id:` = the event's sequence number and `data:` = the event as JSON. While a streamed model call (`ctx.streamText`) is in progress, its text comes as `event: model_delta` messages without `id:` (data { step, key, start, model, offset, text }: `text` starts at `offset` in the answer of the call whose MODEL_CALL_STARTED has seq `start`); they are not journaled, and a client that reconnects gets those of the calls still in progress from their start. A resume point past the end of the log (a Last-Event-ID greater than any event's seq) reads as its end: the stream carries the events recorded from then on. After the execution's final event comes `event: end` with { executionId, status, seq }, and the stream closes. Comments (`: keep-alive`) are sent every 15 s.",
    request: {
      params: ExecutionIdParams,
      query: z.object({
        after: after("Resume after this sequence number (when there is no Last-Event-ID)"),
        token: z.string().max(100).optional().openapi({
          description:
            "A stream token (POST /executions/{id}/stream-token), for browsers' EventSource, which cannot send the bearer token",
        }),
      }),
      headers: z.object({
        "last-event-id": z.string().optional().openapi({
          type: "integer",
          minimum: 0,
          description: "Resume after this sequence number",
        }),
      }),
    },
    responses: {
      200: {
        description: "An event stream",
        content: { "text/event-stream": { schema: z.string() } },
      },
      204: {
        description:
          "Nothing more will come: the resume point is at or after the final event (EventSource stops reconnecting)",
      },
      ...ID_ANSWERS,
    },
  }),
  produces: ["text/event-stream"],
  streamToken: true,
  async handle(c, { params, query }, deps) {
    const id = params.id!;
    const request = c.req.raw;
    const header = request.headers.get("last-event-id");
    const after = header !== null && header.trim() !== ""
      ? checkInteger(header, "Last-Event-ID header", { min: 0, max: MAX_SEQ })
      : (query.after as number | undefined) ?? 0;
    const log = await deps.eventStore.readRange(id);
    if (log.length === 0) throw notFound(id);
    const finalEvent = log.find((e) => FINAL.has(e.type));
    // A reconnect at or after the final event has nothing more to get:
    // 204 tells EventSource to stop reconnecting.
    if (finalEvent && after >= finalEvent.seq) return new Response(null, { status: 204 });
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
            // The text of streamed model calls: of the calls in progress from
            // their start, then live, until the stream ends.
            const { deltas, afterSeq } = await deltasInProgress(deps.eventStore, id, log);
            for (const delta of deltas) send(_deltaFrame(delta));
            _followDeltas(deps.eventStore, id, afterSeq, signal, send);
            // Follow from the log's end as read: a resume point past it (a
            // Last-Event-ID no event of this log has yet) would wait for a
            // seq that is never written and hide the events that are.
            const from = log.at(-1)!.seq;
            for await (const event of deps.eventStore.subscribe(id, { afterSeq: from, signal })) {
              send(_frame(event));
              if (FINAL.has(event.type)) {
                last = event;
                break;
              }
            }
          }
          if (!last && deps.shutdown.aborted) {
            // The server stops: say so, so that the client reconnects (elsewhere).
            send(
              `event: end\ndata: ${
                JSON.stringify({ executionId: id, status: "RUNNING", reason: "server_stopping" })
              }\n\n`,
            );
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
        "cache-control": "no-cache, no-transform",
        "x-accel-buffering": "no",
      },
    });
  },
};

function _followDeltas(
  store: EventStore,
  id: string,
  afterSeq: number,
  signal: AbortSignal,
  send: (text: string) => void,
): void {
  (async () => {
    for await (const event of store.subscribe(textDeltaLogId(id), { afterSeq, signal })) {
      const delta = toTextDelta(id, event);
      if (delta) send(_deltaFrame(delta));
    }
  })().catch(() => {
    // The deltas are a view: the durable events and the final answer still come.
  });
}

// No `id:`: the resume point (Last-Event-ID) stays the last durable event's seq.
function _deltaFrame(delta: TextDelta): string {
  const { executionId: _, ...data } = delta;
  return `event: model_delta\ndata: ${JSON.stringify(data)}\n\n`;
}

function _frame(event: StoredEvent): string {
  return `id: ${event.seq}\ndata: ${JSON.stringify(publicEvent(event))}\n\n`;
}

/** `POST /executions/:id/stream-token`: a short-lived token that opens this execution's stream. */
export const streamToken: ApiRoute = {
  spec: createRoute({
    method: "post",
    path: "/executions/{id}/stream-token",
    operationId: "streamToken",
    summary: "A token that opens this execution's stream for a few minutes (for EventSource)",
    request: { params: ExecutionIdParams },
    responses: {
      200: {
        description:
          "The token and the stream's URL with it (`token` is null when the server has no API token: streams are open)",
        content: jsonContent(z.object({
          token: z.string().nullable(),
          expiresAt: z.int().nullable().openapi({ description: "Epoch ms" }),
          stream: z.string(),
        })),
      },
      ...ID_ANSWERS,
    },
  }),
  produces: ["application/json"],
  async handle(_c, { params }, deps) {
    const id = params.id!;
    if ((await deps.eventStore.count(id)) === 0) throw notFound(id);
    const base = `/executions/${encodeURIComponent(id)}/stream`;
    if (!deps.issueStreamToken) return json({ token: null, expiresAt: null, stream: base });
    const { token, expiresAt } = await deps.issueStreamToken(id);
    return json({ token, expiresAt, stream: `${base}?token=${encodeURIComponent(token)}` });
  },
};
