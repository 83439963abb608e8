/**
 * An LLM agent made with `llmAgent`: a research assistant that searches and
 * reads pages with the example tools (`search`, `fetch`) before it answers.
 * The model call runs in the host: set OPENAI_API_KEY (or OPENAI_BASE_URL to
 * any OpenAI-compatible server, e.g. the local model server `oao demo`
 * starts) — the agent's worker needs no permission.
 *
 * Task: a question (a string), `{ prompt }` or `{ messages }`.
 *
 * @module
 */
import { llmAgent } from "../src/orchestrator/llm_agent.ts";

export default llmAgent({
  name: "assistant",
  version: "1.0.0",
  model: "openai:gpt-4o-mini",
  // Answers stream to `oao run` and to GET /executions/:id/stream as they are written.
  stream: true,
  system: "You are a concise research assistant. Search, read the most relevant page, " +
    "then answer in at most three sentences, citing the page's URL.",
  tools: [
    {
      name: "search",
      description: "Searches the web; returns hits with url and title",
      inputSchema: {
        type: "object",
        properties: { query: { type: "string", description: "What to search for" } },
        required: ["query"],
        additionalProperties: false,
      },
    },
    {
      name: "fetch",
      description: "Fetches a page; returns its text",
      inputSchema: {
        type: "object",
        properties: { url: { type: "string", description: "The page's URL" } },
        required: ["url"],
        additionalProperties: false,
      },
    },
  ],
  maxSteps: 6,
  maxOutputTokens: 800,
});
