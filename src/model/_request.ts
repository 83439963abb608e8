// Checks a model call request and turns it into the options of the AI SDK's
// generateText / streamText: tools without `execute` (the SDK returns the
// calls instead of running them) and structured output from a JSON Schema.
// Tool inputs and structured answers are checked against their schemas: a
// tool call that breaks its schema comes back marked invalid.
import { jsonSchema, type JSONSchema7, type LanguageModel, Output, type ToolSet } from "ai";
import { z } from "zod";
import type { ModelCallRequest } from "./model_call.ts";

const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws TypeError / RangeError naming the first bad field of `request`. */
export function validateRequest(request: ModelCallRequest): void {
  const fail = (field: string, value: unknown, expected: string, Kind = TypeError): never => {
    throw new Kind(`Invalid model call ${field} ${_show(value)}: expected ${expected}`);
  };
  if (request === null || typeof request !== "object") fail("request", request, "an object");
  if (typeof request.model !== "string") fail("model", request.model, 'a "provider:model" string');
  if (request.system !== undefined && typeof request.system !== "string") {
    fail("system", request.system, "a string");
  }
  const hasPrompt = request.prompt !== undefined;
  const hasMessages = request.messages !== undefined;
  if (hasPrompt === hasMessages) {
    fail("prompt", request.prompt, "either a prompt or messages, not both", RangeError);
  }
  if (hasPrompt && typeof request.prompt !== "string") fail("prompt", request.prompt, "a string");
  if (hasMessages && !Array.isArray(request.messages)) {
    fail("messages", request.messages, "an array of messages");
  }
  const names = new Set<string>();
  for (const [i, tool] of (request.tools ?? []).entries()) {
    if (!tool || typeof tool.name !== "string" || !TOOL_NAME.test(tool.name)) {
      fail(`tools[${i}].name`, tool?.name, "1 to 64 letters, digits, _ or -", RangeError);
    }
    if (names.has(tool.name)) fail(`tools[${i}].name`, tool.name, "a unique name", RangeError);
    names.add(tool.name);
    if (!_isObject(tool.inputSchema)) {
      fail(`tools[${i}].inputSchema`, tool.inputSchema, "a JSON Schema object");
    }
  }
  if (request.output !== undefined && !_isObject(request.output.schema)) {
    fail("output.schema", request.output?.schema, "a JSON Schema object");
  }
  const { maxOutputTokens, temperature } = request;
  if (
    maxOutputTokens !== undefined && (!Number.isSafeInteger(maxOutputTokens) || maxOutputTokens < 1)
  ) {
    fail("maxOutputTokens", maxOutputTokens, "an integer >= 1", RangeError);
  }
  if (
    temperature !== undefined &&
    (!Number.isFinite(temperature) || temperature < 0 || temperature > 2)
  ) {
    fail("temperature", temperature, "a number between 0 and 2", RangeError);
  }
}

/** The options generateText and streamText share for `request`. */
export function sdkOptions(
  request: ModelCallRequest,
  model: LanguageModel,
  abortSignal: AbortSignal,
): Parameters<typeof import("ai").generateText>[0] {
  const tools: ToolSet = {};
  for (const tool of request.tools ?? []) {
    tools[tool.name] = {
      ...(tool.description === undefined ? {} : { description: tool.description }),
      inputSchema: _checkedSchema(tool.inputSchema),
    };
  }
  const output = request.output;
  return {
    model,
    maxRetries: 0,
    abortSignal,
    ...(request.system === undefined ? {} : { instructions: request.system }),
    ...(request.prompt === undefined
      ? { messages: request.messages! }
      : { prompt: request.prompt }),
    ...(request.tools?.length ? { tools } : {}),
    ...(request.toolChoice === undefined ? {} : { toolChoice: request.toolChoice }),
    ...(output === undefined ? {} : {
      output: Output.object({
        schema: _checkedSchema(output.schema),
        ...(output.name === undefined ? {} : { name: output.name }),
        ...(output.description === undefined ? {} : { description: output.description }),
      }),
    }),
    ...(request.maxOutputTokens === undefined ? {} : { maxOutputTokens: request.maxOutputTokens }),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
  };
}

/** A rough token estimate of the request (4 characters a token) plus its output budget. */
export function estimateTokens(request: ModelCallRequest): number {
  const text = JSON.stringify([request.system, request.prompt, request.messages, request.tools]);
  return Math.ceil(text.length / 4) + (request.maxOutputTokens ?? 0);
}

// The SDK's jsonSchema() only parses JSON; the value is also checked against
// the schema through zod's JSON Schema conversion. A schema zod cannot convert
// is sent unchecked rather than refused.
function _checkedSchema(schema: Record<string, unknown>) {
  let check: z.ZodType | undefined;
  try {
    check = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  } catch {
    check = undefined;
  }
  if (!check) return jsonSchema(schema as JSONSchema7);
  const validator = check;
  return jsonSchema(schema as JSONSchema7, {
    validate: (value: unknown) => {
      const parsed = validator.safeParse(value);
      return parsed.success
        ? { success: true as const, value: parsed.data }
        : { success: false as const, error: new TypeError(z.prettifyError(parsed.error)) };
    },
  });
}

function _isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function _show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
