// The Anthropic messages wire format of the local model server:
// `POST /v1/messages`, plain JSON or the server-sent events message_start,
// content_block_start/delta/stop, message_delta and message_stop.
import { jsonResponse, type SseFrame, sseResponse, type WireAnswer } from "./_wire.ts";

/**
 * Whether a request asks for structured output through a forced `json` tool
 * (the AI SDK's fallback for models without native structured output).
 */
export function anthropicJsonTool(body: unknown): boolean {
  const request = body as {
    tools?: { name?: string }[];
    tool_choice?: { type?: string; name?: string };
  };
  const forced = request.tool_choice?.type === "any" || request.tool_choice?.name === "json";
  return forced && (request.tools ?? []).some((tool) => tool.name === "json");
}

/** Renders `answer` as an Anthropic message (or a stream of its events when `stream`). */
export function anthropicAnswer(
  answer: WireAnswer,
  stream: boolean,
  signal: AbortSignal,
): Response {
  const id = `msg_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const stop = answer.finishReason ?? (answer.toolCalls.length ? "tool_use" : "end_turn");
  // Anthropic counts cached input tokens apart from `input_tokens`.
  const uncached = Math.max(0, answer.inputTokens - answer.cachedInputTokens);
  const usage = {
    "input_tokens": uncached,
    "output_tokens": answer.outputTokens,
    "cache_read_input_tokens": answer.cachedInputTokens,
    "cache_creation_input_tokens": 0,
  };
  const tools = answer.toolCalls.map((call) => ({
    type: "tool_use",
    id: call.id,
    name: call.name,
    input: call.input,
  }));
  if (!stream) {
    return jsonResponse(
      {
        id,
        type: "message",
        role: "assistant",
        model: answer.model,
        content: [...(answer.text ? [{ type: "text", text: answer.text }] : []), ...tools],
        stop_reason: stop,
        stop_sequence: null,
        usage,
      },
      200,
      answer.headers,
    );
  }
  const frame = (event: string, data: Record<string, unknown>, delta = false): SseFrame => ({
    event,
    data: JSON.stringify({ type: event, ...data }),
    delta,
  });
  const frames: SseFrame[] = [
    frame("message_start", {
      message: {
        id,
        type: "message",
        role: "assistant",
        model: answer.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    }),
  ];
  let index = 0;
  if (answer.chunks.length) {
    frames.push(frame("content_block_start", { index, content_block: { type: "text", text: "" } }));
    for (const text of answer.chunks) {
      frames.push(
        frame("content_block_delta", { index, delta: { type: "text_delta", text } }, true),
      );
    }
    frames.push(frame("content_block_stop", { index }));
    index++;
  }
  for (const [i, tool] of tools.entries()) {
    const json = answer.toolCalls[i]?.arguments ?? JSON.stringify(tool.input);
    frames.push(frame("content_block_start", {
      index,
      content_block: { type: "tool_use", id: tool.id, name: tool.name, input: {} },
    }));
    frames.push(frame("content_block_delta", {
      index,
      delta: { type: "input_json_delta", partial_json: json },
    }));
    frames.push(frame("content_block_stop", { index }));
    index++;
  }
  frames.push(frame("message_delta", {
    delta: { stop_reason: stop, stop_sequence: null },
    usage: { output_tokens: answer.outputTokens },
  }));
  frames.push(frame("message_stop", {}));
  return sseResponse(frames, answer, signal);
}

/** An Anthropic error answer. */
export function anthropicError(
  status: number,
  message: string,
  headers: Record<string, string>,
): Response {
  const type = status === 429
    ? "rate_limit_error"
    : status === 529
    ? "overloaded_error"
    : status >= 500
    ? "api_error"
    : status === 401
    ? "authentication_error"
    : "invalid_request_error";
  return jsonResponse({ type: "error", error: { type, message } }, status, headers);
}
