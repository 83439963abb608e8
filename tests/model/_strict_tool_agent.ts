// An llmAgent for the model-budget tests: one tool with a strict schema
// ({ city: string }), at most three model calls.
import { llmAgent } from "../../src/orchestrator/llm_agent.ts";

export default llmAgent({
  name: "strict-tools",
  version: "1.0.0",
  model: "openai:gpt-4o-mini",
  tools: [{
    name: "weather",
    description: "Current weather of a city",
    inputSchema: {
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
      additionalProperties: false,
    },
  }],
  maxSteps: 3,
  maxOutputTokens: 64,
});
