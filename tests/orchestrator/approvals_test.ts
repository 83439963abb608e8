// Approvals: tool calls that wait for a person (policy `requireApproval`, a
// tool's `requireApproval`), decided with `Orchestrator.decideApproval`; in
// one process, with the injected clock, and across a SIGKILL on Redis.
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { Orchestrator, type OrchestratorOptions } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import type { ExecutionReport } from "../../src/orchestrator/execution_report.ts";
import { ExecutionFinishedError, ExecutionNotFoundError } from "../../src/errors.ts";
import {
  ApprovalAlreadyDecidedError,
  ApprovalNotFoundError,
} from "../../src/orchestrator/approvals.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { RedisEventStore } from "../../src/redis/redis_event_store.ts";
import { testRedisUrl } from "../_support/test_redis.ts";
import { lastJsonLine, orchestratorChild } from "../_support/orchestrator_child.ts";
import type { ApprovalOutput } from "../fixtures/approval_agent.ts";
import { has, until } from "../_support/until_events.ts";
import { racingStore, untilLogged } from "../_support/racing_store.ts";
import {
  approvalCandidates,
  decideApproval,
  listPendingApprovals,
} from "../../src/orchestrator/_approvals.ts";

const AGENT = new URL("../fixtures/approval_agent.ts", import.meta.url);
const PROCESS = new URL("../fixtures/approval_process.ts", import.meta.url).pathname;

function payer(options: OrchestratorOptions = {}) {
  const runs = { charge: 0, refund: 0 };
  const orchestrator = new Orchestrator({
    agents: [{ name: "payer", module: AGENT }],
    policy: { requireApproval: ["charge"] },
    tools: [
      defineTool({
        name: "charge",
        run: (args: { amount: number }) => ({ charged: args.amount, n: ++runs.charge }),
      }) as never,
      defineTool({
        name: "refund",
        requireApproval: true,
        run: () => ({ refunded: true, n: ++runs.refund }),
      }) as never,
      defineTool({ name: "lookup", run: () => "found" }) as never,
    ],
    ...options,
  });
  return { orchestrator, runs };
}

Deno.test("a call of a tool the policy lists waits in APPROVAL_REQUESTED with its arguments, holding no worker, and runs once approved; who and why are in the log", async () => {
  const { orchestrator, runs } = payer({ passivateAfterMs: 20 });
  try {
    const { executionId, done } = await orchestrator.start("payer", {
      calls: [{ tool: "lookup" }, { tool: "charge", args: { amount: 42 } }],
    });
    await until(orchestrator, executionId, has("EXECUTION_PASSIVATED"));
    const events = await orchestrator.eventStore.readRange(executionId);
    const requested = events.find((e) => e.type === "APPROVAL_REQUESTED")!;
    assert.deepEqual(requested.data?.args, { amount: 42 });
    assert.equal(requested.data?.tool, "charge");
    const callId = String(requested.data?.callId);
    const status = await orchestrator.status(executionId);
    assert.deepEqual(status.waitingFor, {
      kind: "approval",
      callId,
      tool: "charge",
      deadline: null,
    });
    assert.equal(runs.charge, 0, "nothing ran before the approval");
    const recorded = await orchestrator.decideApproval(executionId, callId.slice(0, 12), {
      decision: "approve",
      reason: "within budget",
    }, { by: "alice" });
    assert.equal(recorded.callId, callId);
    const report = await done;
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    const output = report.output as ApprovalOutput;
    assert.deepEqual(output.results, ["found", { charged: 42, n: 1 }]);
    assert.equal(runs.charge, 1);
    const log = await orchestrator.eventStore.readRange(executionId);
    const decided = log.find((e) => e.type === "APPROVAL_DECIDED")!;
    assert.deepEqual(decided.data, {
      callId,
      tool: "charge",
      decision: "approve",
      reason: "within budget",
      by: "alice",
    });
    const call = log.find((e) => e.type === "TOOL_CALL" && e.data?.tool === "charge")!;
    assert.equal(call.data?.approvedBy, "alice");
    assert.ok(call.seq > decided.seq, "the call is recorded after its approval");
    assert.equal((await orchestrator.status(executionId)).waitingFor, undefined);
  } finally {
    await orchestrator.close();
  }
});

Deno.test("a denial fails the agent's call with APPROVAL_DENIED, which the agent handles; the tool never runs", async () => {
  const { orchestrator, runs } = payer();
  try {
    const { executionId, done } = await orchestrator.start("payer", {
      calls: [{ tool: "charge", args: { amount: 9000 } }, { tool: "lookup" }],
    });
    await until(orchestrator, executionId, has("APPROVAL_REQUESTED"));
    const { waitingFor } = await orchestrator.status(executionId);
    assert.equal(waitingFor?.kind, "approval");
    await orchestrator.decideApproval(
      executionId,
      (waitingFor as { callId: string }).callId,
      { decision: "deny", reason: "over budget" },
      { by: "bob" },
    );
    const report = await done;
    assert.equal(report.status, "SUCCESS");
    const output = report.output as ApprovalOutput;
    assert.deepEqual(output.errors, [{
      code: "APPROVAL_DENIED",
      message: 'Tool "charge" was denied by "bob": over budget',
    }]);
    assert.deepEqual(output.results, ["found"]);
    assert.equal(runs.charge, 0);
  } finally {
    await orchestrator.close();
  }
});

Deno.test("a tool defined with requireApproval waits without a policy; a submitted policy adds tools and cannot remove the server's", async () => {
  const { orchestrator, runs } = payer();
  try {
    assert.deepEqual(orchestrator.policy.with({ requireApproval: [] }).limits.requireApproval, [
      "charge",
    ]);
    const { executionId, done } = await orchestrator.start("payer", {
      calls: [{ tool: "refund" }, { tool: "lookup" }],
    }, { policy: { requireApproval: ["lookup"] } });
    await until(orchestrator, executionId, has("APPROVAL_REQUESTED"));
    const first = (await orchestrator.status(executionId)).waitingFor as { callId: string };
    await orchestrator.decideApproval(executionId, first.callId, { decision: "approve" });
    await until(orchestrator, executionId, has("APPROVAL_REQUESTED", 2));
    const second = (await orchestrator.status(executionId)).waitingFor as {
      callId: string;
      tool: string;
    };
    assert.equal(second.tool, "lookup");
    await orchestrator.decideApproval(executionId, second.callId, { decision: "approve" });
    const report = await done;
    assert.deepEqual((report.output as ApprovalOutput).results, [
      { refunded: true, n: 1 },
      "found",
    ]);
    assert.equal(runs.refund, 1);
    const started = (await orchestrator.eventStore.readRange(executionId))[0]!;
    assert.deepEqual((started.data?.policy as { requireApproval: string[] }).requireApproval, [
      "charge",
      "lookup",
    ]);
  } finally {
    await orchestrator.close();
  }
});

Deno.test("a policy whose requireApproval names no registered tool is refused at start, naming it: a misspelt tool would let the real one through unapproved", async () => {
  const { orchestrator, runs } = payer();
  try {
    await assert.rejects(
      orchestrator.start("payer", { calls: [{ tool: "charge", args: { amount: 5 } }] }, {
        policy: { requireApproval: ["chrage"] },
      }),
      (error: Error) =>
        error instanceof TypeError &&
        error.message.includes('"chrage" is no registered tool') &&
        error.message.includes('(tools: "charge", "lookup", "refund")'),
    );
    await assert.rejects(
      orchestrator.startWorkflow({
        id: "wf-typo",
        tasks: [{ name: "pay", agent: "payer", policy: { requireApproval: ["chrage"] } }],
      }),
      /"chrage" is no registered tool/,
    );
    assert.equal(await orchestrator.eventStore.count("wf-typo"), 0);
    assert.equal((await orchestrator.listExecutions()).executions.length, 0);
    assert.equal(runs.charge, 0);
  } finally {
    await orchestrator.close();
  }
  // The server's own policy is checked at each start as well.
  const typo = payer({ policy: { requireApproval: ["refnud", "lokup"] } });
  try {
    await assert.rejects(
      typo.orchestrator.run("payer", { calls: [] }),
      /Invalid policy requireApproval: "lokup", "refnud" are no registered tools/,
    );
  } finally {
    await typo.orchestrator.close();
  }
});

Deno.test("the policy's approval timeout, on the injected clock: the call fails with APPROVAL_TIMEOUT and a later decision is refused", async () => {
  const clock = new ManualClock(Date.now());
  const { orchestrator, runs } = payer({
    clock,
    passivateAfterMs: 10,
    policy: { requireApproval: ["charge"], approvalTimeoutMs: 60_000 },
  });
  try {
    const { executionId, done } = await orchestrator.start("payer", {
      calls: [{ tool: "charge", args: { amount: 1 } }],
    });
    await until(orchestrator, executionId, has("APPROVAL_REQUESTED"));
    const requested = (await orchestrator.eventStore.readRange(executionId))
      .find((e) => e.type === "APPROVAL_REQUESTED")!;
    assert.equal(requested.data?.deadline, requested.time + 60_000);
    await clock.advance(10);
    await until(orchestrator, executionId, has("EXECUTION_PASSIVATED"));
    await clock.advance(59_980);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!has("APPROVAL_TIMED_OUT")(await orchestrator.eventStore.readRange(executionId)));
    await clock.advance(20);
    await until(orchestrator, executionId, has("APPROVAL_TIMED_OUT"));
    const callId = String(requested.data?.callId);
    await assert.rejects(
      orchestrator.decideApproval(executionId, callId, { decision: "approve" }),
      (error) => error instanceof ApprovalAlreadyDecidedError && /timed out/.test(error.message),
    );
    const report = await done;
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    assert.equal((report.output as ApprovalOutput).errors[0]?.code, "APPROVAL_TIMEOUT");
    assert.equal(runs.charge, 0);
  } finally {
    await orchestrator.close();
  }
});

Deno.test("bad decisions are refused naming why: unknown execution, unknown call, neither approve nor deny, a second decision, a finished execution", async () => {
  const { orchestrator } = payer();
  try {
    await assert.rejects(
      orchestrator.decideApproval("exec-nope", "abcdefgh", { decision: "approve" }),
      ExecutionNotFoundError,
    );
    const { executionId, done } = await orchestrator.start("payer", {
      calls: [{ tool: "charge", args: { amount: 5 } }],
    });
    await until(orchestrator, executionId, has("APPROVAL_REQUESTED"));
    const { callId } = (await orchestrator.status(executionId)).waitingFor as { callId: string };
    await assert.rejects(
      orchestrator.decideApproval(executionId, "0123456789abcdef", { decision: "approve" }),
      (error) =>
        error instanceof ApprovalNotFoundError &&
        error.message.includes(`waits for approval of call "${callId.slice(0, 12)}"`),
    );
    for (const decision of [{ decision: "maybe" }, { decision: "APPROVE" }, {}, null]) {
      await assert.rejects(
        orchestrator.decideApproval(executionId, callId, decision as never),
        /Invalid approval decision/,
      );
    }
    await assert.rejects(
      orchestrator.decideApproval(executionId, callId, {
        decision: "deny",
        reason: "x".repeat(2001),
      }),
      /Invalid approval reason/,
    );
    await orchestrator.decideApproval(executionId, callId, { decision: "deny" }, { by: "carol" });
    await assert.rejects(
      orchestrator.decideApproval(executionId, callId, { decision: "approve" }, { by: "dave" }),
      (error) =>
        error instanceof ApprovalAlreadyDecidedError && /denied by "carol"/.test(error.message),
    );
    await done;
    await assert.rejects(
      orchestrator.decideApproval(executionId, callId, { decision: "approve" }),
      ExecutionFinishedError,
    );
  } finally {
    await orchestrator.close();
  }
});

Deno.test("two decisions at once on one call: exactly one is accepted, and it is the one that counts", async () => {
  const { orchestrator, runs } = payer();
  try {
    const { executionId, done } = await orchestrator.start("payer", {
      calls: [{ tool: "charge", args: { amount: 5 } }],
    });
    await until(orchestrator, executionId, has("APPROVAL_REQUESTED"));
    const { callId } = (await orchestrator.status(executionId)).waitingFor as { callId: string };
    const results = await Promise.allSettled([
      orchestrator.decideApproval(executionId, callId, { decision: "approve" }, { by: "alice" }),
      orchestrator.decideApproval(executionId, callId, { decision: "deny" }, { by: "bob" }),
    ]);
    const accepted = results.filter((r) => r.status === "fulfilled");
    assert.equal(accepted.length, 1, JSON.stringify(results));
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert.ok(rejected.reason instanceof ApprovalAlreadyDecidedError);
    const winner = (accepted[0] as PromiseFulfilledResult<{ decision: string }>).value;
    const report = await done;
    const output = report.output as ApprovalOutput;
    if (winner.decision === "approve") assert.equal(runs.charge, 1);
    else assert.equal(output.errors[0]?.code, "APPROVAL_DENIED");
  } finally {
    await orchestrator.close();
  }
});

Deno.test("a decision that lands as the execution is cancelled is refused with ExecutionFinishedError; the executions index keeps CANCELLED", async () => {
  const { orchestrator, runs } = payer();
  try {
    const { executionId, done } = await orchestrator.start("payer", {
      calls: [{ tool: "charge", args: { amount: 5 } }],
    });
    await until(orchestrator, executionId, has("APPROVAL_REQUESTED"));
    const { callId } = (await orchestrator.status(executionId)).waitingFor as { callId: string };
    // The decision reads the log (still waiting), then the cancel lands before its append.
    const racing = racingStore(orchestrator.eventStore, {
      executionId: () => executionId,
      point: { after: "readRange" },
      inject: async () => {
        orchestrator.cancel(executionId, "raced");
        await untilLogged(orchestrator.eventStore, executionId, "EXECUTION_CANCELLED");
      },
    });
    await assert.rejects(
      decideApproval(racing, executionId, callId, {
        decision: { decision: "approve" },
        by: "alice",
      }),
      (error) => error instanceof ExecutionFinishedError && error.status === "CANCELLED",
    );
    assert.equal((await done).status, "CANCELLED");
    const events = await orchestrator.eventStore.readRange(executionId);
    assert.ok(!events.some((e) => e.type === "APPROVAL_DECIDED"), "no decision recorded");
    const page = await orchestrator.eventStore.queryExecutions({});
    assert.deepEqual(
      page.executions.filter((e) => e.executionId === executionId).map((e) => e.status),
      ["CANCELLED"],
    );
    assert.equal(runs.charge, 0);
  } finally {
    await orchestrator.close();
  }
});

Deno.test("a decision that loses to another never hides the approval requested after the winner from the approvals list", async () => {
  const { orchestrator, runs } = payer();
  try {
    const { executionId, done } = await orchestrator.start("payer", {
      calls: [{ tool: "charge", args: { amount: 5 } }, { tool: "refund" }],
    });
    await until(orchestrator, executionId, has("APPROVAL_REQUESTED"));
    const { callId } = (await orchestrator.status(executionId)).waitingFor as { callId: string };
    // Bob reads the log; meanwhile Alice approves, the charge runs and the refund waits.
    const racing = racingStore(orchestrator.eventStore, {
      executionId: () => executionId,
      point: { after: "readRange" },
      inject: async () => {
        await orchestrator.decideApproval(executionId, callId, { decision: "approve" }, {
          by: "alice",
        });
        await untilLogged(orchestrator.eventStore, executionId, "APPROVAL_REQUESTED", 2);
      },
    });
    await assert.rejects(
      decideApproval(racing, executionId, callId, { decision: { decision: "deny" }, by: "bob" }),
      (error) =>
        error instanceof ApprovalAlreadyDecidedError && /approved by "alice"/.test(error.message),
    );
    const events = await orchestrator.eventStore.readRange(executionId);
    assert.deepEqual(
      events.filter((e) => e.type === "APPROVAL_DECIDED").map((e) => e.data?.by),
      ["alice"],
    );
    const store = orchestrator.eventStore;
    assert.deepEqual(await approvalCandidates(store, 10), [executionId]);
    const pending = await listPendingApprovals(store, [executionId]);
    assert.deepEqual(pending.map((p) => p.tool), ["refund"]);
    await orchestrator.decideApproval(executionId, pending[0]!.callId, { decision: "approve" });
    assert.equal((await done).status, "SUCCESS");
    assert.deepEqual(runs, { charge: 1, refund: 1 });
  } finally {
    await orchestrator.close();
  }
});

Deno.test("SIGKILL while waiting for an approval; the approval is sent while no process runs it; the resume continues once, every side effect once", async () => {
  const redisUrl = await testRedisUrl();
  const id = crypto.randomUUID().slice(0, 8);
  const keyPrefix = `oao-test-${id}:`;
  const effectsKey = `oao-test-${id}-effects`;
  const executionId = `exec-approval-${id}`;
  const options = {
    redisUrl,
    keyPrefix,
    effectsKey,
    task: { effectBefore: true, calls: [{ tool: "charge", args: { amount: 7 } }] },
  };
  const store = new RedisEventStore({ redisUrl, keyPrefix });
  const redis = new Redis(redisUrl);
  const orchestrator = new Orchestrator({ eventStore: store });
  try {
    const first = orchestratorChild("run", executionId, options, PROCESS);
    const deadline = Date.now() + 30_000;
    while (!(await store.readRange(executionId)).some((e) => e.type === "EXECUTION_PASSIVATED")) {
      if (Date.now() > deadline) throw new Error("no passivated wait for an approval");
      await new Promise((r) => setTimeout(r, 10));
    }
    first.kill("SIGKILL");
    await first.output();
    const { waitingFor } = await orchestrator.status(executionId);
    assert.equal(waitingFor?.kind, "approval");
    await orchestrator.decideApproval(
      executionId,
      (waitingFor as { callId: string }).callId,
      { decision: "approve", reason: "ok" },
      { by: "alice" },
    );
    const output = await orchestratorChild("resume", executionId, options, PROCESS).output();
    const report = lastJsonLine<ExecutionReport>(output);
    assert.equal(report?.status, "SUCCESS", new TextDecoder().decode(output.stderr));
    assert.deepEqual((report.output as ApprovalOutput).results, [{ charged: 7, n: 1 }]);
    assert.equal(Number(await redis.get(effectsKey)), 1, "the effect before the wait ran once");
    assert.equal(Number(await redis.get(`${effectsKey}:charge`)), 1, "the charge ran once");
    const events = await store.readRange(executionId);
    assert.equal(events.filter((e) => e.type === "APPROVAL_REQUESTED").length, 1);
    assert.equal(
      events.filter((e) => e.type === "TOOL_CALL" && e.data?.tool === "charge").length,
      1,
    );
  } finally {
    await orchestrator.close();
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.del(effectsKey, `${effectsKey}:charge`);
    redis.disconnect();
    await store.close();
  }
});

Deno.test("a worker cannot approve its own call: forged approval fields, waits, services and tools are refused, and the call waits for a person", async () => {
  let progress: Record<string, string> | undefined;
  let charges = 0;
  const orchestrator = new Orchestrator({
    passivateAfterMs: Infinity, // the hostile step keeps running while it waits
    policy: { requireApproval: ["charge"] },
    agents: [{ name: "forger", module: "tests/fixtures/hostile/forged_approval.ts" }],
    tools: [
      defineTool({ name: "charge", run: () => ({ n: ++charges }) }) as never,
      defineTool({
        name: "progress",
        run: (args: Record<string, string>) => void (progress = args),
      }) as never,
    ],
  });
  try {
    const { executionId, done } = await orchestrator.start("forger", {});
    await until(orchestrator, executionId, () => progress !== undefined);
    assert.equal(progress!.forgedFields, "still waiting");
    assert.match(progress!.approvalWait!, /Wait refused: field "wait.kind" must be/);
    assert.match(progress!.approvalService!, /No service "oao.approvals" is registered/);
    assert.match(progress!.decisionTool!, /cannot call tool "APPROVAL_DECIDED": no such tool/);
    const events = await orchestrator.eventStore.readRange(executionId);
    assert.equal(events.filter((e) => e.type === "APPROVAL_DECIDED").length, 0);
    // The forged call is a second call of "charge": it waits for its own approval.
    const requests = events.filter((e) => e.type === "APPROVAL_REQUESTED");
    assert.equal(requests.length, 2);
    for (const request of requests) {
      assert.deepEqual(request.data?.args, { amount: 500 });
    }
    assert.equal(charges, 0);
    for (const request of requests) {
      await orchestrator.decideApproval(executionId, String(request.data?.callId), {
        decision: "deny",
        reason: "forged",
      }, { by: "security" });
    }
    const report = await done;
    assert.equal(report.status, "SUCCESS", JSON.stringify(report.error));
    assert.equal(
      (report.output as { charge: string }).charge,
      'APPROVAL_DENIED: Tool "charge" was denied by "security": forged',
    );
    assert.equal(charges, 0);
  } finally {
    await orchestrator.close();
  }
});
