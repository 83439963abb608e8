// The OpenAI chat-completions wire format of the local model server:
// `POST /v1/chat/completions`, plain JSON or server-sent events with
// `stream_options.include_usage`.
import { jsonResponse, type SseFrame, sseResponse, type WireAnswer } from "./_wire.ts";

/** Renders `answer` as a chat completion (or a stream of chunks when `stream`). */
export function openAiAnswer(answer: WireAnswer, stream: boolean, signal: AbortSignal): Response {
  const id = `chatcmpl-${crypto.randomUUID().slice(0, 8)}`;
  const created = Math.floor(Date.now() / 1000);
  const finish = answer.finishReason ?? (answer.toolCalls.length ? "tool_calls" : "stop");
  const usage = {
    "prompt_tokens": answer.inputTokens,
    "completion_tokens": answer.outputTokens,
    "total_tokens": answer.inputTokens + answer.outputTokens,
    "prompt_tokens_details": { cached_tokens: answer.cachedInputTokens },
  };
  const toolCalls = answer.toolCalls.map((call) => ({
    id: call.id,
    type: "function",
    function: { name: call.name, arguments: call.arguments ?? JSON.stringify(call.input) },
  }));
  if (!stream) {
    return jsonResponse(
      {
        id,
        object: "chat.completion",
        created,
        model: answer.model,
        choices: [{
          index: 0,
          message: {
            role: "assistant",
            content: answer.toolCalls.length && !answer.text ? null : answer.text,
            ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
          },
          finish_reason: finish,
        }],
        usage,
      },
      200,
      answer.headers,
    );
  }
  const chunk = (delta: unknown, finishReason: string | null = null) =>
    JSON.stringify({
      id,
      object: "chat.completion.chunk",
      created,
      model: answer.model,
      choices: [{ index: 0, delta, finish_reason: finishReason }],
    });
  const frames: SseFrame[] = [{ data: chunk({ role: "assistant", content: "" }) }];
  for (const text of answer.chunks) frames.push({ data: chunk({ content: text }), delta: true });
  toolCalls.forEach((call, index) => {
    frames.push({
      data: chunk({
        tool_calls: [{
          index,
          id: call.id,
          type: "function",
          function: { name: call.function.name, arguments: "" },
        }],
      }),
    });
    frames.push({
      data: chunk({ tool_calls: [{ index, function: { arguments: call.function.arguments } }] }),
    });
  });
  frames.push({ data: chunk({}, finish) });
  frames.push({
    data: JSON.stringify({
      id,
      object: "chat.completion.chunk",
      created,
      model: answer.model,
      choices: [],
      usage,
    }),
  });
  frames.push({ data: "[DONE]" });
  return sseResponse(frames, answer, signal);
}

/** An OpenAI error answer. */
export function openAiError(
  status: number,
  message: string,
  headers: Record<string, string>,
): Response {
  const type = status === 429
    ? "rate_limit_exceeded"
    : status >= 500
    ? "server_error"
    : "invalid_request_error";
  return jsonResponse({ error: { message, type, param: null, code: type } }, status, headers);
}
