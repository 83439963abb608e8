// Three worker processes and an API node on one Redis: 300 tool-using
// executions survive three SIGKILLs and a frozen worker (see _core_scenario.ts).
import { runCoreScenario } from "./_core_scenario.ts";
import { SHARED_REDIS_URL } from "./_harness.ts";

Deno.test("300 executions on 3 workers survive 3 SIGKILLs and a SIGSTOP past the lease: all complete once, every effect once, every takeover recorded", async () => {
  const result = await runCoreScenario({
    redisUrl: SHARED_REDIS_URL,
    executions: 300,
    leaseMs: 1_500,
  });
  console.log(`core scenario: ${JSON.stringify(result)}`);
});
