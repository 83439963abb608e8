// One attempt of a model call through the AI SDK — generateText, or
// streamText with its text deltas passed on as they arrive — reduced to plain
// JSON-serializable data. Errors are thrown as the SDK raised them.
import { generateText, type LanguageModel, type LanguageModelUsage, streamText } from "ai";
import type { ModelCallRequest, ModelToolCall, ModelUsage } from "./model_call.ts";
import { sdkOptions } from "./_request.ts";

/** What one successful attempt produced. */
export interface AttemptResult {
  text: string;
  toolCalls: ModelToolCall[];
  object?: unknown;
  finishReason: string;
  usage: ModelUsage;
  responseModel?: string;
  warnings: string[];
}

interface _Step {
  text: string;
  toolCalls: readonly { toolCallId: string; toolName: string; input: unknown }[];
  finishReason: string;
  usage: LanguageModelUsage;
  warnings?: readonly unknown[] | undefined;
  response: { modelId?: string };
}

/** Makes one model call; `onDelta` receives text deltas when the request streams. */
export async function runAttempt(
  request: ModelCallRequest,
  model: LanguageModel,
  signal: AbortSignal,
  onDelta: (text: string) => void,
): Promise<AttemptResult> {
  // deno-lint-ignore no-explicit-any
  const options = sdkOptions(request, model, signal) as any;
  if (!request.stream) {
    const result = await generateText(options);
    return _reduce(request, result.finalStep as _Step, () => result.output);
  }
  const result = streamText({ ...options, onError: () => {} });
  for await (const part of result.stream) {
    if (part.type === "text-delta") onDelta(part.text);
    else if (part.type === "error") throw part.error;
    else if (part.type === "abort") {
      throw signal.reason ?? new DOMException("Aborted", "AbortError");
    }
  }
  const step = await result.finalStep as _Step;
  const object = request.output && step.toolCalls.length === 0 ? await result.output : undefined;
  return _reduce(request, step, () => object);
}

function _reduce(request: ModelCallRequest, step: _Step, output: () => unknown): AttemptResult {
  const toolCalls = step.toolCalls.map((call) => ({
    toolCallId: call.toolCallId,
    toolName: call.toolName,
    input: call.input,
  }));
  const result: AttemptResult = {
    text: step.text,
    toolCalls,
    finishReason: step.finishReason,
    usage: _usage(step.usage),
    warnings: (step.warnings ?? []).map((w) => JSON.stringify(w)),
  };
  // A model that asks for tools has not given its structured answer yet.
  if (request.output && toolCalls.length === 0) result.object = output();
  if (step.response.modelId) result.responseModel = step.response.modelId;
  return result;
}

function _usage(usage: LanguageModelUsage): ModelUsage {
  const inputTokens = usage.inputTokens ?? 0;
  const outputTokens = usage.outputTokens ?? 0;
  return {
    inputTokens,
    outputTokens,
    cachedInputTokens: usage.inputTokenDetails?.cacheReadTokens ?? 0,
    totalTokens: usage.totalTokens ?? inputTokens + outputTokens,
  };
}
