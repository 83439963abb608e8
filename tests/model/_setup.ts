// Shared set-up of the model tests: a local model server that wants a key,
// providers pointing at it, and a clock whose waits are recorded and skipped.
import { type Clock, systemClock } from "../../src/clock.ts";
import { ModelProviders } from "../../src/model/providers.ts";
import { type LocalModelServer, startLocalModelServer } from "../_support/model_server.ts";

/** The key the local server wants; it must reach it and never an error message. */
export const KEY = "sk-test-5f0c2b7e9a41d3";

/** The two wire formats, with a model of each that the AI SDK knows. */
export const APIS = [
  {
    api: "openai",
    model: "openai:gpt-4o-mini",
    keyOf: (h: Record<string, string>) => h.authorization,
  },
  {
    api: "anthropic",
    model: "anthropic:claude-haiku-4-5",
    keyOf: (h: Record<string, string>) => h["x-api-key"],
  },
] as const;

/** A server wanting {@linkcode KEY} and providers of both APIs pointing at it. */
export function setup(): { server: LocalModelServer; providers: ModelProviders } {
  const server = startLocalModelServer({ apiKey: KEY });
  const providers = new ModelProviders({
    openai: { apiKey: KEY, baseURL: server.baseURL },
    anthropic: { apiKey: KEY, baseURL: server.baseURL },
    env: () => undefined,
  });
  return { server, providers };
}

/** The real clock, except that `sleep` records its delay and returns at once. */
export function skippingClock(now?: number): { clock: Clock; sleeps: number[] } {
  const sleeps: number[] = [];
  const clock: Clock = {
    now: now === undefined ? () => Date.now() : () => now,
    setTimeout: systemClock.setTimeout,
    clearTimeout: systemClock.clearTimeout,
    sleep(ms) {
      sleeps.push(ms);
      return Promise.resolve();
    },
  };
  return { clock, sleeps };
}
