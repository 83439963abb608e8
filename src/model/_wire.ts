// Shared pieces of the local model server's two wire formats: the resolved
// answer both render, and a server-sent-events body that can be slowed down
// and cut mid-stream.

/** A tool call the local server answers with. */
export interface WireToolCall {
  id: string;
  name: string;
  input: unknown;
  /** Raw text sent instead of the JSON of `input`, where the format carries text. */
  arguments?: string;
}

/** One answer, resolved from a script entry, ready to render in either wire format. */
export interface WireAnswer {
  text: string;
  chunks: string[];
  toolCalls: WireToolCall[];
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  finishReason: string | undefined;
  model: string;
  chunkDelayMs: number;
  breakAfterChunks: number | undefined;
  headers: Record<string, string>;
}

/** One server-sent event; `delta` marks the frames that carry answer text. */
export interface SseFrame {
  event?: string;
  data: string;
  delta?: boolean;
}

/**
 * A `text/event-stream` response that writes `frames` in order, waiting
 * `answer.chunkDelayMs` between them, and errors the body (the connection is
 * cut without a proper end) after `answer.breakAfterChunks` text frames.
 */
export function sseResponse(frames: SseFrame[], answer: WireAnswer, signal: AbortSignal): Response {
  const encoder = new TextEncoder();
  let index = 0;
  let deltas = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (answer.breakAfterChunks !== undefined && deltas >= answer.breakAfterChunks) {
        // A string reason: Deno logs it as one line when it drops the connection.
        controller.error(`local model server: stream cut after ${deltas} text deltas, as scripted`);
        return;
      }
      const frame = frames[index++];
      if (!frame) return controller.close();
      if (index > 1 && answer.chunkDelayMs > 0) {
        await sleepUnlessAborted(answer.chunkDelayMs, signal);
      }
      if (signal.aborted) return controller.error(signal.reason);
      if (frame.delta) deltas++;
      const head = frame.event ? `event: ${frame.event}\n` : "";
      controller.enqueue(encoder.encode(`${head}data: ${frame.data}\n\n`));
    },
  });
  return new Response(body, {
    headers: {
      ...answer.headers,
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
    },
  });
}

/** A JSON response. */
export function jsonResponse(
  body: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...headers, "content-type": "application/json" },
  });
}

/** Resolves after `ms` or as soon as `signal` aborts (never rejects). */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
