/**
 * The local model server the model tests talk to over real HTTP: the same
 * keyless server `oao demo` starts (`src/model/local_model_server.ts`),
 * re-exported here for the tests. It speaks the OpenAI chat-completions and
 * the Anthropic messages wire formats and is scripted per test.
 *
 * @example
 * ```ts
 * import { startLocalModelServer } from "./model_server.ts";
 * await using server = startLocalModelServer({ apiKey: "test-key" });
 * server.script({ status: 429, retryAfter: 1 }, { text: "ok" });
 * console.assert(server.pending() === 2);
 * ```
 *
 * @module
 */
export {
  type LocalModelServer,
  type LocalModelServerOptions,
  type RecordedModelRequest,
  type ScriptedReply,
  type ScriptEntry,
  startLocalModelServer,
} from "../../src/model/local_model_server.ts";
