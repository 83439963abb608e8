/**
 * A ready-made LLM agent: the usual model → tools → model loop, run as OAO's
 * lifecycle. PLAN asks the model (`ctx.generateText`: governed, journaled,
 * counted against `maxTokens` and `maxCostUsd`); EXECUTE calls the tools it
 * asked for through `ctx.tool`, so the policy, idempotency keys and the
 * ledger apply to them as to any tool call, and sends their results (or
 * their errors) back to the model — a call the model made invalid (input
 * not JSON or not matching the tool's schema, an unknown tool) runs no tool
 * and goes back as an error; REVIEW ends the loop when the model
 * answered without asking for tools. After `maxSteps` model calls with the
 * model still asking for tools, the execution fails (`LLM_MAX_STEPS`), or,
 * with `onMaxSteps: "answer"`, ends with the last answer. The
 * execution's output is the final text (or, with `output`, the structured
 * answer). Each loop is three steps: raise the policy's `maxSteps` (50 by
 * default) for long conversations.
 *
 * @example An agent module (`export default` it; register its tools with the orchestrator)
 * ```ts
 * import { llmAgent } from "./llm_agent.ts";
 *
 * export default llmAgent({
 *   name: "assistant",
 *   version: "1.0.0",
 *   model: "openai:gpt-4o-mini",
 *   system: "Answer in one sentence. Use search when you need facts.",
 *   tools: [{
 *     name: "search",
 *     description: "Searches the web",
 *     inputSchema: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
 *   }],
 *   maxSteps: 4,
 * });
 * ```
 *
 * @module
 */
import type { AssistantModelMessage, ToolModelMessage, ToolResultPart } from "ai";
import type { ModelOutputSchema, ModelToolCall } from "../model/model_call.ts";
import { OaoError } from "../oao_error.ts";
import {
  type AgentModule,
  defineAgent,
  type GenerateTextRequest,
  type GenerateTextResult,
} from "./agent.ts";

/** A message of the conversation, in the AI SDK's form. */
export type LlmMessage = NonNullable<GenerateTextRequest["messages"]>[number];

/** A tool the model may ask for: an OAO tool registered with the orchestrator. */
export interface LlmTool {
  /** The name the model sees: 1 to 64 letters, digits, `_` or `-`. */
  name: string;
  /** The OAO tool `ctx.tool` calls. @default {name} */
  tool?: string;
  /** What the tool does, for the model. */
  description?: string;
  /** JSON Schema of the tool's input. @default {{ type: "object" }} */
  inputSchema?: Record<string, unknown>;
}

/** Options of {@linkcode llmAgent}. */
export interface LlmAgentOptions {
  /** Default registration name. */
  name?: string;
  /** Version, part of the execution hash: change it when the prompt or tools change. @default {"0.0.0"} */
  version?: string;
  /** The model, e.g. `"openai:gpt-4o-mini"`, `"anthropic:claude-haiku-4-5"`, `"ollama:llama3.2"`. */
  model: string;
  /** System instructions. */
  system?: string;
  /** The tools the model may ask for. @default {[]} */
  tools?: LlmTool[];
  /** Most model calls of one execution (the loop ends after it). @default {10} */
  maxSteps?: number;
  /**
   * What `maxSteps` model calls with the model still asking for tools end in:
   * a failed execution (`LLM_MAX_STEPS`, saying so), or the last answer's
   * text as the output. @default {"fail"}
   */
  onMaxSteps?: "fail" | "answer";
  /** Upper bound of each call's output tokens (the budgets are checked against it). */
  maxOutputTokens?: number;
  /** Sampling temperature, 0 to 2. */
  temperature?: number;
  /** Ask for a structured final answer matching a JSON Schema; it is then the output. */
  output?: ModelOutputSchema;
  /** Stream each answer's text to the execution's watchers (`ctx.streamText`). @default {false} */
  stream?: boolean;
}

/** What an {@linkcode llmAgent} is asked: a prompt, or a conversation to continue. */
export type LlmTask = string | { prompt: string } | { messages: LlmMessage[] };

/** What an {@linkcode llmAgent} remembers between steps (persisted after each). */
export interface LlmAgentState {
  /** The conversation so far, the model's answers and the tool results included. */
  messages: LlmMessage[];
  /** Tool calls the last answer asked for, run by the next EXECUTE. */
  pending: ModelToolCall[];
  /** Model calls made. */
  steps: number;
  /** Whether the model answered without asking for tools. */
  answered: boolean;
  /** Text of the last answer. */
  text: string;
  /** The structured answer, when `output` was asked for and given. */
  object?: unknown;
  /** Finish reason of the last answer. */
  finishReason?: string;
}

// Errors that end the execution whatever the model would say: passed on, never sent back to it.
const FATAL = new Set([
  "POLICY_VIOLATION",
  "TOOL_OUTCOME_UNKNOWN",
  "EXECUTION_CANCELLED",
  "STALE_STEP",
  "FENCED",
]);
const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Makes an LLM agent module: model → tools → model as the lifecycle.
 *
 * @param options Model, system prompt, tools, limits.
 * @returns The agent module (its module's default export).
 * @throws {TypeError} When the model is not a string or a tool is malformed.
 * @throws {RangeError} When a tool name is invalid or repeated, or `maxSteps` is not an integer >= 1.
 *
 * @example
 * ```ts
 * import { llmAgent } from "./llm_agent.ts";
 * const agent = llmAgent({ model: "ollama:llama3.2", system: "Be brief." });
 * console.assert(typeof agent.agent.plan === "function");
 * ```
 */
export function llmAgent(options: LlmAgentOptions): AgentModule<LlmAgentState, LlmTask> {
  if (typeof options?.model !== "string") {
    throw new TypeError(
      `Invalid llmAgent model ${
        JSON.stringify(options?.model)
      }: expected a "provider:model" string`,
    );
  }
  const maxSteps = options.maxSteps ?? 10;
  if (!Number.isSafeInteger(maxSteps) || maxSteps < 1) {
    throw new RangeError(
      `Invalid llmAgent maxSteps ${JSON.stringify(maxSteps)}: expected an integer >= 1`,
    );
  }
  const onMaxSteps = options.onMaxSteps ?? "fail";
  if (onMaxSteps !== "fail" && onMaxSteps !== "answer") {
    throw new TypeError(
      `Invalid llmAgent onMaxSteps ${JSON.stringify(onMaxSteps)}: expected "fail" or "answer"`,
    );
  }
  if (options.stream !== undefined && typeof options.stream !== "boolean") {
    throw new TypeError(
      `Invalid llmAgent stream ${JSON.stringify(options.stream)}: expected true or false`,
    );
  }
  const tools = _tools(options.tools ?? []);
  const request = (messages: LlmMessage[]): GenerateTextRequest => ({
    model: options.model,
    messages,
    ...(options.system === undefined ? {} : { system: options.system }),
    ...(tools.length
      ? {
        tools: tools.map((t) => ({
          name: t.name,
          inputSchema: t.inputSchema ?? { type: "object" },
          ...(t.description === undefined ? {} : { description: t.description }),
        })),
      }
      : {}),
    ...(options.output === undefined ? {} : { output: options.output }),
    ...(options.maxOutputTokens === undefined ? {} : { maxOutputTokens: options.maxOutputTokens }),
    ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
  });
  return defineAgent<LlmAgentState, LlmTask>({
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.version === undefined ? {} : { version: options.version }),
    initialState: () => ({ messages: [], pending: [], steps: 0, answered: false, text: "" }),
    init(ctx) {
      ctx.state.messages = _firstMessages(ctx.task);
    },
    async plan(ctx) {
      const asked = request(ctx.state.messages);
      const result: GenerateTextResult = options.stream
        ? await ctx.streamText(asked)
        : await ctx.generateText(asked);
      const state = ctx.state;
      state.steps++;
      const content: Exclude<AssistantModelMessage["content"], string> = [];
      if (result.text) content.push({ type: "text", text: result.text });
      for (const call of result.toolCalls) {
        content.push({
          type: "tool-call",
          toolCallId: call.toolCallId,
          toolName: call.toolName,
          // An invalid call's input may be the model's raw text: providers want an object here.
          input: call.invalid && !_isObject(call.input) ? {} : call.input ?? {},
        });
      }
      if (content.length) state.messages.push({ role: "assistant", content });
      state.pending = result.toolCalls;
      state.answered = result.toolCalls.length === 0;
      state.text = result.text;
      state.finishReason = result.finishReason;
      if (result.object === undefined) delete state.object;
      else state.object = result.object;
    },
    async execute(ctx) {
      const state = ctx.state;
      if (!state.pending.length) return;
      if (state.steps >= maxSteps) {
        // No model call is left to read their results: the tools do not run.
        if (onMaxSteps === "fail") {
          throw new OaoError(
            "LLM_MAX_STEPS",
            `The model still asked for tools after maxSteps (${maxSteps}) model calls: raise ` +
              `maxSteps, or set onMaxSteps: "answer" to end with its last answer`,
          );
        }
        state.pending = [];
        return;
      }
      const results: ToolModelMessage["content"] = [];
      // One after the other: the calls' keys (and their answers after a crash) stay in order.
      for (const call of state.pending) {
        const tool = tools.find((t) => t.name === call.toolName);
        let output: ToolResultPart["output"];
        if (!tool) {
          output = {
            type: "error-text",
            value: `No tool "${call.toolName}" is available (tools: ${
              tools.map((t) => t.name).join(", ") || "none"
            })`,
          };
        } else if (call.invalid) {
          // Input not JSON or not matching the tool's schema: the model is told, nothing runs.
          output = {
            type: "error-text",
            value: `Invalid call of tool "${call.toolName}", not run: ${
              call.error ?? "its input is not valid"
            }`,
          };
        } else {
          try {
            const value = await ctx.tool(tool.tool ?? tool.name, call.input);
            output = { type: "json", value: value ?? null } as ToolResultPart["output"];
          } catch (error) {
            if (FATAL.has(String((error as { code?: unknown }).code))) throw error;
            output = { type: "error-text", value: (error as Error)?.message ?? String(error) };
          }
        }
        results.push({
          type: "tool-result",
          toolCallId: call.toolCallId,
          toolName: call.toolName,
          output,
        });
      }
      state.messages.push({ role: "tool", content: results });
      state.pending = [];
    },
    review(ctx) {
      const state = ctx.state;
      const done = state.answered || state.steps >= maxSteps;
      return done ? { done, output: state.object ?? state.text } : { done };
    },
  });
}

function _tools(tools: LlmTool[]): LlmTool[] {
  if (!Array.isArray(tools)) {
    throw new TypeError(`Invalid llmAgent tools ${JSON.stringify(tools)}: expected an array`);
  }
  const names = new Set<string>();
  return tools.map((tool, i) => {
    if (typeof tool !== "object" || tool === null) {
      throw new TypeError(
        `Invalid llmAgent tools[${i}] ${JSON.stringify(tool)}: expected an object`,
      );
    }
    if (typeof tool.name !== "string" || !TOOL_NAME.test(tool.name) || names.has(tool.name)) {
      throw new RangeError(
        `Invalid llmAgent tools[${i}].name ${
          JSON.stringify(tool.name)
        }: expected a unique name of 1 to 64 letters, digits, "_" or "-"`,
      );
    }
    names.add(tool.name);
    const schema = tool.inputSchema;
    if (
      schema !== undefined &&
      (typeof schema !== "object" || schema === null || Array.isArray(schema))
    ) {
      throw new TypeError(
        `Invalid llmAgent tools[${i}].inputSchema ${
          JSON.stringify(schema)
        }: expected a JSON Schema object`,
      );
    }
    return { ...tool };
  });
}

function _firstMessages(task: LlmTask): LlmMessage[] {
  if (typeof task === "string") return [{ role: "user", content: task }];
  if (typeof task === "object" && task !== null) {
    if ("prompt" in task && typeof task.prompt === "string") {
      return [{ role: "user", content: task.prompt }];
    }
    if ("messages" in task && Array.isArray(task.messages)) return [...task.messages];
  }
  throw new TypeError(
    `Invalid llmAgent task ${
      JSON.stringify(task)?.slice(0, 100)
    }: expected a prompt string, { prompt } or { messages }`,
  );
}

function _isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
