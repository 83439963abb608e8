// POST /executions/:id/signals/:name over real HTTP (the waits that take
// signals are followed end to end in tests/orchestrator/signals_test.ts).
import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";

Deno.test("a signal to a running execution is 202 and recorded; unknown 404, finished 409, bad name 400, over 64 KiB 413", async () => {
  await using api = await startTestServer();
  const unknown = await api.call("POST", "/executions/exec-nope/signals/go", { body: "1" });
  assert.equal(unknown.status, 404, unknown.text);

  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({
      agent: "tester",
      task: { calls: [{ tool: "sleep", args: { ms: 500 } }] },
    }),
  });
  const id = body.executionId;
  const sent = await api.call("POST", `/executions/${id}/signals/approved`, {
    body: JSON.stringify({ by: "alice" }),
  });
  assert.equal(sent.status, 202, sent.text);
  assert.equal(sent.body.name, "approved");
  const events = await api.call("GET", `/executions/${id}/events`);
  const received = events.body.events.find((e: { seq: number }) => e.seq === sent.body.seq);
  assert.equal(received.type, "SIGNAL_RECEIVED");
  assert.deepEqual(received.data, { name: "approved", payload: { by: "alice" } });

  const scalar = await api.call("POST", `/executions/${id}/signals/n`, { body: "42" });
  assert.equal(scalar.status, 202, "any JSON value is a payload");
  for (const badId of ["a".repeat(3_000), "..%2F..%2Fx", "%E2%98%83"]) {
    const refused = await api.call("POST", `/executions/${badId}/signals/go`, { body: "1" });
    assert.equal(refused.status, 400, `${badId.slice(0, 20)}: ${refused.text}`);
    assert.equal(refused.body.error.code, "invalid_id");
  }
  const long = await api.call("POST", `/executions/${"a".repeat(3_000)}/signals/go`, { body: "1" });
  assert.match(long.body.error.message, /^Invalid execution id "a{100}"… \(3000 characters\)/);
  const badName = await api.call("POST", `/executions/${id}/signals/a%20b`, { body: "1" });
  assert.equal(badName.status, 400, badName.text);
  assert.match(badName.body.error.message, /path parameter "name"/);
  const large = await api.call("POST", `/executions/${id}/signals/big`, {
    body: JSON.stringify("x".repeat(70_000)),
  });
  assert.equal(large.status, 413, large.text);
  assert.match(large.body.error.message, /over the limit of 65536 bytes/);

  await api.waitFor(id, (s) => s.status === "SUCCESS");
  const late = await api.call("POST", `/executions/${id}/signals/go`, { body: "1" });
  assert.equal(late.status, 409, late.text);
  assert.equal(late.body.error.code, "already_finished");
});

Deno.test("/metrics counts the executions waiting for a signal and for a timer, until their waits end", async () => {
  await using api = await startTestServer();
  const pending = async () => {
    const text = (await api.call("GET", "/metrics")).text;
    const read = (kind: string) =>
      Number(text.match(new RegExp(`^oao_waits_pending\\{kind="${kind}"\\} (\\d+)$`, "m"))?.[1]);
    return { signal: read("signal"), timer: read("timer") };
  };
  assert.deepEqual(await pending(), { signal: 0, timer: 0 });
  const start = async (task: unknown) =>
    (await api.call("POST", "/executions", { body: JSON.stringify({ agent: "waiter", task }) }))
      .body.executionId as string;
  const signalled = await start({ signal: { name: "go" } });
  const sleeper = await start({ sleepMs: 60_000 });
  const deadline = Date.now() + 10_000;
  while (JSON.stringify(await pending()) !== JSON.stringify({ signal: 1, timer: 1 })) {
    assert.ok(Date.now() < deadline, `still ${JSON.stringify(await pending())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await api.call("POST", `/executions/${signalled}/signals/go`, { body: "1" });
  await api.waitFor(signalled, (s) => s.status === "SUCCESS");
  assert.deepEqual(await pending(), { signal: 0, timer: 1 });
  const cancelled = await api.call("POST", `/executions/${sleeper}/cancel`);
  assert.ok(cancelled.status < 300, cancelled.text);
  await api.waitFor(sleeper, (s) => s.status === "CANCELLED");
  assert.deepEqual(await pending(), { signal: 0, timer: 0 });
});

Deno.test("a signal beyond the 1,000 an execution holds untaken is 429 too_many_signals, with Retry-After", async () => {
  await using api = await startTestServer();
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "waiter", task: { signal: { name: "go" } } }),
  });
  const id = body.executionId as string;
  for (let batch = 0; batch < 10; batch++) {
    const sent = await Promise.all(
      Array.from(
        { length: 100 },
        () => api.call("POST", `/executions/${id}/signals/noise`, { body: "1" }),
      ),
    );
    assert.deepEqual([...new Set(sent.map((r) => r.status))], [202]);
  }
  const refused = await api.call("POST", `/executions/${id}/signals/noise`, { body: "1" });
  assert.equal(refused.status, 429, refused.text);
  assert.equal(refused.body.error.code, "too_many_signals");
  assert.equal(refused.headers.get("retry-after"), "1");
  await api.call("POST", `/executions/${id}/cancel`);
});
