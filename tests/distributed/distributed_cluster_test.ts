// The core scenario (see _core_scenario.ts) against a local 3-master Redis
// Cluster: every multi-key operation of the queue and the stores stays in
// one slot (hash tags), and the queue's and executions' keys spread over the
// masters.
import { startRedisCluster } from "../_support/redis_cluster.ts";
import { runCoreScenario } from "./_core_scenario.ts";

Deno.test("on a 3-master Redis Cluster, 300 executions on 3 workers survive 3 SIGKILLs and a SIGSTOP: all complete once, every effect once", async () => {
  await using cluster = await startRedisCluster();
  const result = await runCoreScenario({
    redisUrl: cluster.url,
    executions: Number(Deno.env.get("N") ?? 300),
    leaseMs: 1_500,
  });
  console.log(`cluster scenario: ${JSON.stringify(result)}`);
});
