// One attempt of a model call through the AI SDK — generateText, or
// streamText with its text deltas passed on as they arrive — reduced to plain
// JSON-serializable data. Errors are thrown as the SDK raised them.
import { generateText, type LanguageModel, type LanguageModelUsage, streamText } from "ai";
import type { ModelCallRequest, ModelToolCall, ModelUsage } from "./model_call.ts";
import { sdkOptions } from "./_request.ts";
import { toModelUsage } from "./_usage.ts";

const MAX_TOOL_ERROR = 500;

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
  toolCalls: readonly {
    toolCallId: string;
    toolName: string;
    input: unknown;
    invalid?: boolean | undefined;
    error?: unknown;
  }[];
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
  // The SDK marks a call it could not parse or validate (input not JSON, not
  // matching the tool's schema, an unknown tool) as invalid: kept so, with why.
  const toolCalls = step.toolCalls.map((call): ModelToolCall => ({
    toolCallId: call.toolCallId,
    toolName: call.toolName,
    input: call.input,
    ...(call.invalid ? { invalid: true, error: _toolError(call.error, call.toolName) } : {}),
  }));
  const result: AttemptResult = {
    text: step.text,
    toolCalls,
    finishReason: step.finishReason,
    usage: toModelUsage(step.usage),
    warnings: (step.warnings ?? []).map((w) => JSON.stringify(w)),
  };
  // A model that asks for tools has not given its structured answer yet.
  if (request.output && toolCalls.length === 0) result.object = output();
  if (step.response.modelId) result.responseModel = step.response.modelId;
  return result;
}

function _toolError(error: unknown, toolName: string): string {
  const message = error instanceof Error
    ? error.message
    : `The call of tool "${toolName}" is invalid`;
  return message.length > MAX_TOOL_ERROR ? `${message.slice(0, MAX_TOOL_ERROR)}…` : message;
}
