/**
 * A keyless local model server: an HTTP server on 127.0.0.1 that speaks the
 * OpenAI chat-completions wire format (`POST /v1/chat/completions`) and the
 * Anthropic messages format (`POST /v1/messages`), plain and streamed, so
 * that the real AI SDK providers talk to it over real HTTP. `oao demo` runs
 * its LLM scene against it (no key, no network) and the tests script it to
 * answer with text, tool calls, structured output, usage with cached tokens,
 * 429 with `Retry-After`, 5xx, a slow answer or a stream cut in the middle.
 *
 * Unscripted, it echoes the last user message with deterministic usage.
 *
 * @example
 * ```ts
 * import { startLocalModelServer } from "./local_model_server.ts";
 * await using server = startLocalModelServer();
 * server.script({ text: "Hello there" }, { status: 429, retryAfter: 2 });
 * const response = await fetch(`${server.baseURL}/chat/completions`, {
 *   method: "POST",
 *   body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }),
 * });
 * const body = await response.json();
 * console.assert(body.choices[0].message.content === "Hello there");
 * console.assert(server.requests.length === 1);
 * ```
 *
 * @module
 */
import { anthropicAnswer, anthropicError, anthropicJsonTool } from "./_anthropic_wire.ts";
import { openAiAnswer, openAiError } from "./_openai_wire.ts";
import { jsonResponse, sleepUnlessAborted, type WireAnswer } from "./_wire.ts";

/** How the local server answers one request. Every field is optional. */
export interface ScriptedReply {
  /** Answer text. @default {an echo of the last user message} */
  text?: string;
  /** Text deltas of a streamed answer. @default {the text split after each word} */
  chunks?: string[];
  /**
   * Tool calls to answer with (OpenAI `tool_calls`, Anthropic `tool_use`
   * blocks). `arguments` replaces the JSON of `input` with raw text (not JSON,
   * say) where the format carries text: OpenAI's `arguments`, Anthropic's
   * streamed `partial_json`.
   */
  toolCalls?: { id?: string; name: string; input: unknown; arguments?: string }[];
  /** A structured answer: sent as JSON text, or as the forced `json` tool when asked for one. */
  object?: unknown;
  /** Usage to report; `inputTokens` counts cached tokens too. @default {derived from the text} */
  usage?: { inputTokens?: number; outputTokens?: number; cachedInputTokens?: number };
  /** Raw finish reason (`stop`, `length`, `end_turn`, …). @default {from the content} */
  finishReason?: string;
  /** Model name in the answer. @default {the requested model} */
  model?: string;
  /** An error status (400 and above) to answer with instead. */
  status?: number;
  /** Message of the error answer. @default {"Scripted error <status>"} */
  error?: string;
  /** `Retry-After` header of the answer, in seconds or as an HTTP date. */
  retryAfter?: number | string;
  /** More response headers. */
  headers?: Record<string, string>;
  /** Wait this long before answering (a slow answer), in ms. @default {0} */
  delayMs?: number;
  /** Wait this long between stream events, in ms. @default {0} */
  chunkDelayMs?: number;
  /** Cut the connection after this many text deltas of a streamed answer. */
  breakAfterChunks?: number;
}

/** A request the local server received. */
export interface RecordedModelRequest {
  /** Which wire format: `"openai"` or `"anthropic"`. */
  api: "openai" | "anthropic";
  /** Request path, e.g. `/v1/chat/completions`. */
  path: string;
  /** Request headers, lower-case names. */
  headers: Record<string, string>;
  /** The parsed JSON body. */
  body: unknown;
  /** Whether a streamed answer was asked for. */
  stream: boolean;
  /** The requested model. */
  model: string | undefined;
}

/** A script entry: a reply, or a function of the request that returns one. */
export type ScriptEntry =
  | ScriptedReply
  | ((request: RecordedModelRequest) => ScriptedReply | Promise<ScriptedReply>);

/** Options of {@linkcode startLocalModelServer}. */
export interface LocalModelServerOptions {
  /** Interface to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** Port; 0 picks a free one. @default {0} */
  port?: number;
  /** When set, requests must carry this key (`Authorization: Bearer` or `x-api-key`), else 401. */
  apiKey?: string;
  /** Answers requests when the script is empty. @default {an echo of the last user message} */
  respond?: (request: RecordedModelRequest) => ScriptedReply | Promise<ScriptedReply>;
}

/** A running local model server. */
export interface LocalModelServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** `<url>/v1`: the base URL for the OpenAI, Anthropic and OpenAI-compatible providers. */
  readonly baseURL: string;
  /** Every request received so far, in arrival order. */
  readonly requests: readonly RecordedModelRequest[];
  /** Queues replies; each request takes the next one, then falls back to `respond`. */
  script(...entries: ScriptEntry[]): void;
  /** Number of queued replies not used yet. */
  pending(): number;
  /** Stops the server; slow answers and open streams are ended. */
  close(): Promise<void>;
}

/**
 * Starts a local model server.
 *
 * @param options Listening address, required key and default answer.
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 *
 * @example
 * ```ts
 * import { startLocalModelServer } from "./local_model_server.ts";
 * const server = startLocalModelServer({ apiKey: "test-key" });
 * console.assert(server.baseURL.endsWith("/v1"));
 * await server.close();
 * ```
 */
export function startLocalModelServer(options: LocalModelServerOptions = {}): LocalModelServer {
  const requests: RecordedModelRequest[] = [];
  const queue: ScriptEntry[] = [];
  const closing = new AbortController();
  const respond: ScriptEntry = options.respond ?? (() => ({}));

  const handle = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    const api = path === "/v1/chat/completions"
      ? "openai"
      : path === "/v1/messages"
      ? "anthropic"
      : undefined;
    if (req.method !== "POST" || !api) {
      return jsonResponse({ error: { message: `No route for ${req.method} ${path}` } }, 404);
    }
    const headers = Object.fromEntries(req.headers);
    let body: Record<string, unknown>;
    try {
      body = await req.json();
    } catch {
      return jsonResponse({ error: { message: "The request body is not JSON" } }, 400);
    }
    const recorded: RecordedModelRequest = {
      api,
      path,
      headers,
      body,
      stream: body.stream === true,
      model: typeof body.model === "string" ? body.model : undefined,
    };
    requests.push(recorded);
    const renderError = api === "openai" ? openAiError : anthropicError;
    const given = api === "openai"
      ? headers.authorization?.replace(/^Bearer\s+/i, "")
      : headers["x-api-key"];
    if (options.apiKey !== undefined && given !== options.apiKey) {
      // Like real providers, the answer quotes the key it got: callers must redact it.
      return renderError(401, `Incorrect API key provided: ${given ?? "(none)"}`, {});
    }
    const entry: ScriptEntry = queue.shift() ?? respond;
    const reply: ScriptedReply = typeof entry === "function" ? await entry(recorded) : entry;
    const signal = closing.signal;
    if (reply.delayMs) await sleepUnlessAborted(reply.delayMs, signal);
    const extra: Record<string, string> = { ...reply.headers };
    if (reply.retryAfter !== undefined) extra["retry-after"] = String(reply.retryAfter);
    if (reply.status !== undefined && reply.status >= 400) {
      return renderError(reply.status, reply.error ?? `Scripted error ${reply.status}`, extra);
    }
    const answer = _resolve(reply, recorded, extra);
    return api === "openai"
      ? openAiAnswer(answer, recorded.stream, signal)
      : anthropicAnswer(answer, recorded.stream, signal);
  };

  const server = Deno.serve({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    onListen: () => {},
  }, handle);
  const url = `http://${server.addr.hostname}:${server.addr.port}`;
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      closing.abort(new Error("the local model server is closing"));
      await server.shutdown();
    })();
    return closed;
  };
  return {
    url,
    baseURL: `${url}/v1`,
    requests,
    script: (...entries) => void queue.push(...entries),
    pending: () => queue.length,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function _resolve(
  reply: ScriptedReply,
  request: RecordedModelRequest,
  headers: Record<string, string>,
): WireAnswer {
  let text = reply.text ?? reply.chunks?.join("");
  const toolCalls = (reply.toolCalls ?? []).map((call, i) => ({
    id: call.id ?? `call_${_nextId()}_${i}`,
    name: call.name,
    input: call.input,
    ...(call.arguments === undefined ? {} : { arguments: call.arguments }),
  }));
  if (reply.object !== undefined) {
    if (request.api === "anthropic" && anthropicJsonTool(request.body)) {
      toolCalls.push({ id: `toolu_json_${_nextId()}`, name: "json", input: reply.object });
    } else {
      text ??= JSON.stringify(reply.object);
    }
  }
  text ??= toolCalls.length ? "" : `Echo: ${_lastUserText(request.body)}`;
  const chunks = reply.chunks ?? (text.match(/\S+\s*|\s+/g) ?? []);
  const words = text.split(/\s+/).filter(Boolean).length;
  const cached = reply.usage?.cachedInputTokens ?? 0;
  return {
    text,
    chunks,
    toolCalls,
    inputTokens: reply.usage?.inputTokens ??
      Math.max(1, Math.ceil(JSON.stringify(request.body).length / 16)) + cached,
    outputTokens: reply.usage?.outputTokens ?? words + 10 * toolCalls.length,
    cachedInputTokens: cached,
    finishReason: reply.finishReason,
    model: reply.model ?? request.model ?? "local-model",
    chunkDelayMs: reply.chunkDelayMs ?? 0,
    breakAfterChunks: reply.breakAfterChunks,
    headers,
  };
}

let _ids = 0;
function _nextId(): number {
  return ++_ids;
}

function _lastUserText(body: unknown): string {
  const messages = (body as { messages?: { role?: string; content?: unknown }[] }).messages ?? [];
  const last = messages.findLast((m) => m.role === "user");
  const content = last?.content;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part) => (part as { text?: unknown }).text)
      .filter((text) => typeof text === "string").join(" ");
  }
  return "";
}
