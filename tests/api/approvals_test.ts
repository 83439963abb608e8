// Approvals over real HTTP: GET /approvals, POST /executions/:id/approvals/:callId
// with named API tokens (who decided is the token's name), bad input, and
// the pending approvals in /metrics.
import assert from "node:assert/strict";
import { OaoMetrics } from "../../src/api/metrics.ts";
import { startApiServer } from "../../src/api/server.ts";
import { parseApiTokens } from "../../src/api/api_tokens.ts";
import { LocalWorkflowBackend } from "../../src/orchestrator/local_workflow_backend.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";
import { defineTool } from "../../src/orchestrator/tool.ts";
import type { ApprovalOutput } from "../fixtures/approval_agent.ts";

const ALICE = "alice-token-0123456789";
const BOB = "bob-token-0123456789ab";
const OLD = "single-token-0123456789";

function approvalServer() {
  let charges = 0;
  const orchestrator = new Orchestrator({
    passivateAfterMs: 20,
    agents: [{ name: "payer", module: new URL("../fixtures/approval_agent.ts", import.meta.url) }],
    tools: [
      defineTool({
        name: "charge",
        run: (args: { amount: number }) => ({ charged: args.amount, n: ++charges }),
      }) as never,
    ],
  });
  const metrics = new OaoMetrics();
  orchestrator.events.subscribe((event) => metrics.observe(event));
  const server = startApiServer({
    backend: new LocalWorkflowBackend(orchestrator),
    eventStore: orchestrator.eventStore,
    metrics,
    token: OLD,
    tokens: parseApiTokens({ OAO_API_TOKENS: `alice:${ALICE},bob:${BOB}` }),
    port: 0,
  });
  const call = async (method: string, path: string, body?: unknown, token = ALICE) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined
        ? {}
        : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, body: json, text };
  };
  const waitFor = async (id: string, ok: (status: Record<string, unknown>) => boolean) => {
    const deadline = Date.now() + 15_000;
    while (true) {
      const { body } = await call("GET", `/executions/${id}`);
      if (ok(body)) return body;
      if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(body)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return {
    call,
    waitFor,
    charges: () => charges,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await orchestrator.close();
    },
  };
}

Deno.test("a submitted policy requires approval; GET /approvals lists the call with its arguments; the named token that approves it is recorded as who decided; a second decision is 409", async () => {
  await using api = approvalServer();
  const submitted = await api.call("POST", "/executions", {
    agent: "payer",
    // A second charge keeps the execution waiting while the second decision on
    // the first is refused: it cannot have finished meanwhile.
    task: {
      calls: [{ tool: "charge", args: { amount: 120 } }, { tool: "charge", args: { amount: 7 } }],
    },
    policy: { requireApproval: ["charge"], approvalTimeoutMs: 3_600_000 },
  });
  assert.equal(submitted.status, 202, submitted.text);
  const id = submitted.body.executionId as string;
  const status = await api.waitFor(
    id,
    (s) => (s.waitingFor as { kind?: string } | undefined)?.kind === "approval",
  );
  const waiting = status.waitingFor as { callId: string; tool: string; deadline: number };
  assert.equal(waiting.tool, "charge");
  assert.ok(waiting.deadline > Date.now() + 3_500_000);

  const listed = await api.call("GET", "/approvals", undefined, BOB);
  assert.equal(listed.status, 200, listed.text);
  const mine = listed.body.approvals.filter((a: { executionId: string }) => a.executionId === id);
  assert.equal(mine.length, 1);
  assert.deepEqual(
    { ...mine[0], requestedAt: 0 },
    {
      executionId: id,
      agent: "payer",
      callId: waiting.callId,
      tool: "charge",
      args: { amount: 120 },
      step: mine[0].step,
      requestedAt: 0,
      deadline: waiting.deadline,
    },
  );
  await api.waitFor(id, () => true);
  const metrics = await api.call("GET", "/metrics");
  assert.match(metrics.text, /^oao_approvals_pending 1$/m);
  assert.equal(api.charges(), 0);

  const path = `/executions/${id}/approvals/${encodeURIComponent(waiting.callId)}`;
  const approved = await api.call("POST", path, { decision: "approve", reason: "budget ok" });
  assert.equal(approved.status, 202, approved.text);
  assert.equal(approved.body.by, "alice");
  assert.equal(approved.body.decision, "approve");
  const again = await api.call("POST", path, { decision: "deny" }, BOB);
  assert.equal(again.status, 409, again.text);
  assert.equal(again.body.error.code, "already_decided");
  assert.match(again.body.error.message, /already approved by "alice"/);

  type Waiting = { tool?: string; callId?: string } | undefined;
  const next = await api.waitFor(id, (s) => {
    const callId = (s.waitingFor as Waiting)?.callId;
    return callId !== undefined && callId !== waiting.callId;
  });
  const nextPath = `/executions/${id}/approvals/${
    encodeURIComponent((next.waitingFor as Waiting)!.callId!)
  }`;
  assert.equal((await api.call("POST", nextPath, { decision: "deny" }, BOB)).status, 202);
  const done = await api.waitFor(id, (s) => s.status === "SUCCESS");
  assert.deepEqual((done.report.output as ApprovalOutput).results, [{ charged: 120, n: 1 }]);
  const events = await api.call("GET", `/executions/${id}/events`);
  const decided = events.body.events.filter((e: { type: string; data: { callId: string } }) =>
    e.type === "APPROVAL_DECIDED" && e.data.callId === waiting.callId
  );
  assert.equal(decided.length, 1, "the refused second decision is not recorded");
  assert.equal(decided[0].data.by, "alice");
  assert.equal(decided[0].data.reason, "budget ok");
  assert.match((await api.call("GET", "/metrics")).text, /^oao_approvals_pending 0$/m);
  assert.match(
    (await api.call("GET", "/metrics")).text,
    /^oao_approvals_total\{outcome="approved"\} 1$/m,
  );
  const after = await api.call("GET", "/approvals");
  assert.ok(!after.body.approvals.some((a: { executionId: string }) => a.executionId === id));
});

Deno.test('approval decisions refused: 404 unknown execution or call, 400 neither approve nor deny, 401 without a valid token; the token of OAO_API_TOKEN decides as "default"', async () => {
  await using api = approvalServer();
  const nope = await api.call("POST", "/executions/exec-nope/approvals/0123456789ab", {
    decision: "approve",
  });
  assert.equal(nope.status, 404, nope.text);
  assert.equal(nope.body.error.code, "execution_not_found");

  const { body } = await api.call("POST", "/executions", {
    agent: "payer",
    task: { calls: [{ tool: "charge", args: { amount: 1 } }] },
    policy: { requireApproval: ["charge"] },
  });
  const id = body.executionId as string;
  const status = await api.waitFor(id, (s) => s.waitingFor !== undefined);
  const callId = (status.waitingFor as { callId: string }).callId;
  const path = `/executions/${id}/approvals/${callId.slice(0, 16)}`;

  const unknownCall = await api.call(
    "POST",
    `/executions/${id}/approvals/ffffffffffffffff`,
    { decision: "approve" },
  );
  assert.equal(unknownCall.status, 404, unknownCall.text);
  assert.equal(unknownCall.body.error.code, "approval_not_found");
  assert.match(unknownCall.body.error.message, new RegExp(callId.slice(0, 12)));

  for (
    const bad of [
      { decision: "maybe" },
      { decision: "Approve" },
      {},
      { decision: "approve", by: "mallory" },
      { decision: "deny", reason: 7 },
      "[]",
      "not json",
    ]
  ) {
    const answer = await api.call("POST", path, bad);
    assert.equal(answer.status, 400, `${JSON.stringify(bad)}: ${answer.text}`);
  }
  const short = await api.call("POST", `/executions/${id}/approvals/abc`, { decision: "deny" });
  assert.equal(short.status, 400, short.text);

  for (const token of ["", "wrong-token-0123456789"]) {
    const refused = await api.call("POST", path, { decision: "approve" }, token);
    assert.equal(refused.status, 401, refused.text);
    assert.equal((await api.call("GET", "/approvals", undefined, token)).status, 401);
  }
  assert.equal(api.charges(), 0, "nothing refused had any effect");

  const denied = await api.call("POST", path, { decision: "deny", reason: "no" }, OLD);
  assert.equal(denied.status, 202, denied.text);
  assert.equal(denied.body.by, "default");
  const done = await api.waitFor(id, (s) => s.status === "SUCCESS");
  assert.equal((done.report.output as ApprovalOutput).errors[0]?.code, "APPROVAL_DENIED");
  const finished = await api.call("POST", path, { decision: "approve" });
  assert.equal(finished.status, 409, finished.text);
  assert.equal(finished.body.error.code, "already_finished");
});

Deno.test("a policy whose requireApproval names no registered tool is refused with 400 naming it, for an execution and a workflow task; nothing starts", async () => {
  await using api = approvalServer();
  const policy = { requireApproval: ["chrage"] };
  const submitted = await api.call("POST", "/executions", { agent: "payer", task: {}, policy });
  assert.equal(submitted.status, 400, submitted.text);
  assert.equal(submitted.body.error.code, "invalid_field");
  assert.match(
    submitted.body.error.message,
    /"policy".*"chrage" is no registered tool \(tools: "charge"\)/,
  );
  const workflow = await api.call("POST", "/workflows", {
    id: "wf-typo",
    tasks: [{ name: "pay", agent: "payer", input: {}, policy }],
  });
  assert.equal(workflow.status, 400, workflow.text);
  assert.match(workflow.body.error.message, /"tasks\.0\.policy".*"chrage" is no registered tool/);
  assert.equal((await api.call("GET", "/workflows/wf-typo")).status, 404);
  assert.equal((await api.call("GET", "/executions")).body.executions.length, 0);
  assert.equal(api.charges(), 0);
  // A policy naming the real tool is taken.
  const ok = await api.call("POST", "/executions", {
    agent: "payer",
    task: { calls: [] },
    policy: { requireApproval: ["charge"] },
  });
  assert.equal(ok.status, 202, ok.text);
  await api.waitFor(ok.body.executionId, (s) => s.status === "SUCCESS");
});

Deno.test("named API tokens are checked: malformed entries, short tokens and duplicates are refused naming the entry, never the secret", () => {
  assert.deepEqual(
    parseApiTokens({ OAO_API_TOKEN: OLD, OAO_API_TOKENS: ` alice:${ALICE} , bob:${BOB}` }),
    [{ name: "default", token: OLD }, { name: "alice", token: ALICE }, {
      name: "bob",
      token: BOB,
    }],
  );
  assert.deepEqual(parseApiTokens({}), []);
  const refused = (tokens: string, why: RegExp) => {
    assert.throws(() => parseApiTokens({ OAO_API_TOKENS: tokens }), (error: Error) => {
      assert.match(error.message, why);
      assert.ok(!error.message.includes("secret-"), error.message);
      return true;
    });
  };
  refused("secret-0123456789abcdef", /entry 1: expected name:token/);
  refused("alice:secret-short", /entry 1 \("alice"\): expected at least 16 characters/);
  refused("al ice:secret-0123456789abcdef", /the name "al ice" must be/);
  refused("a:secret-0123456789abcdef,a:secret-fedcba9876543210", /"a" is given twice/);
  refused("a:secret-0123456789abcdef,b:secret-0123456789abcdef", /token of "b" is given twice/);
});
