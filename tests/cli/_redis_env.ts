// Environment of CLI tests on the suite's Redis (tests/_support/test_redis.ts):
// a unique key prefix and queue per test, and the clean-up of its keys.
import { Redis } from "ioredis";
import { testRedisUrl } from "../_support/test_redis.ts";

// Got when this module loads, outside any test; only the tests that call
// redisTestEnv() fail (at once, with the reason) when there is none.
const shared: { url: string } | { error: Error } = await testRedisUrl().then(
  (url) => ({ url }),
  (error: Error) => ({ error }),
);

/** The suite's Redis ("" when there is none: {@linkcode redisTestEnv} then throws why). */
export const SHARED_REDIS_URL: string = "url" in shared ? shared.url : "";

export interface RedisTestEnv extends AsyncDisposable {
  env: Record<string, string>;
  prefix: string;
}

/**
 * The environment of a CLI test on the suite's Redis: `REDIS_URL` (set on
 * purpose: the subprocesses under test read it), a unique `OAO_KEY_PREFIX`
 * and `OAO_QUEUE`. Disposing it removes the prefix's keys.
 *
 * @throws {TestRedisUnavailableError} When there is no Redis for the tests.
 */
export function redisTestEnv(): RedisTestEnv {
  if ("error" in shared) throw shared.error;
  const prefix = `oao-test-${crypto.randomUUID()}:`;
  return {
    prefix,
    env: { REDIS_URL: SHARED_REDIS_URL, OAO_KEY_PREFIX: prefix, OAO_QUEUE: "cli-test" },
    async [Symbol.asyncDispose]() {
      const redis = new Redis(SHARED_REDIS_URL);
      try {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
          cursor = next;
          if (keys.length) await redis.del(...keys);
        } while (cursor !== "0");
      } finally {
        redis.disconnect();
      }
    },
  };
}

/** Writes a config with a `slow` agent calling an idempotent `pause` tool for `ms`. */
export async function slowAgentConfig(dir: string, ms: number): Promise<string> {
  await Deno.writeTextFile(
    `${dir}/pause_tools.ts`,
    `export const pause = {
      name: "pause",
      idempotent: true,
      run: ({ ms }, ctx) => new Promise((resolve) => {
        const t = setTimeout(() => resolve({ paused: ms }), ms);
        ctx.signal.addEventListener("abort", () => { clearTimeout(t); resolve(null); });
      }),
    };`,
  );
  const agent = new URL("../../src/orchestrator/agent.ts", import.meta.url).href;
  await Deno.writeTextFile(
    `${dir}/slow_agent.ts`,
    `import { defineAgent } from ${JSON.stringify(agent)};
     export default defineAgent({
       version: "1.0.0",
       async execute(ctx) { ctx.state.result = await ctx.tool("pause", { ms: ${ms} }); },
       review: (ctx) => ({ done: true, output: ctx.state.result }),
     });`,
  );
  const config = `${dir}/oao.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      agents: [{ name: "slow", module: "./slow_agent.ts", version: "1.0.0" }],
      tools: ["./pause_tools.ts"],
    }),
  );
  return config;
}
