// POST /executions/:id/decisions/:callId over real HTTP: what a client gets
// for an unknown execution, one that waits for no decision, and a malformed
// decision (the decision itself is followed end to end in
// tests/orchestrator/decisions_test.ts).
import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";

Deno.test("a decision for an unknown execution is 404, for one that waits for none 409, a malformed one 400", async () => {
  await using api = await startTestServer();
  const unknown = await api.call("POST", "/executions/exec-nope/decisions/0123456789ab", {
    body: JSON.stringify({ rerun: true }),
  });
  assert.equal(unknown.status, 404, unknown.text);

  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "researcher", task: { topic: "actors", sources: 1 } }),
  });
  await api.waitFor(body.executionId, (s) => s.status === "SUCCESS");
  const path = `/executions/${body.executionId}/decisions/0123456789ab`;
  const none = await api.call("POST", path, { body: JSON.stringify({ rerun: true }) });
  assert.equal(none.status, 409, none.text);
  assert.equal(none.body.error.code, "no_pending_decision");
  assert.match(none.body.error.message, /waits for no decision/);

  for (
    const [bad, why] of [
      [{}, /exactly one of "succeeded", "failed", "rerun" \(got none\)/],
      [{ rerun: true, failed: "x" }, /exactly one of .* \(got "failed", "rerun"\)/],
      [{ rerun: false }, /rerun/],
      [{ failed: "" }, /"failed"/],
      [{ nope: 1 }, /./],
    ] as const
  ) {
    const answer = await api.call("POST", path, { body: JSON.stringify(bad) });
    assert.equal(answer.status, 400, `${JSON.stringify(bad)}: ${answer.text}`);
    assert.match(answer.body.error.message, why);
  }
  const short = await api.call("POST", `/executions/${body.executionId}/decisions/abc`, {
    body: JSON.stringify({ rerun: true }),
  });
  assert.equal(short.status, 400, short.text);
  assert.match(short.body.error.message, /callId/);
});
