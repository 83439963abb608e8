// GET /executions over real HTTP: newest first, filters, paging, and a 400
// that names every bad parameter.
import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";

Deno.test("GET /executions lists executions newest first, with filters and a cursor", async () => {
  await using api = await startTestServer();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const { body } = await api.call("POST", "/executions", {
      body: JSON.stringify({ agent: "tester", task: { calls: [] } }),
    });
    ids.push(body.executionId);
    await api.waitFor(body.executionId, (s) => s.status === "SUCCESS");
    await new Promise((r) => setTimeout(r, 2));
  }
  const { body: running } = await api.call("POST", "/executions", {
    body: JSON.stringify({
      agent: "tester",
      task: { calls: [{ tool: "sleep", args: { ms: 5_000 } }] },
    }),
  });
  ids.push(running.executionId);
  ids.reverse();

  const all = await api.call("GET", "/executions");
  assert.equal(all.status, 200, all.text);
  assert.deepEqual(all.body.executions.map((e: { executionId: string }) => e.executionId), ids);
  assert.equal(all.body.nextCursor, undefined);
  assert.equal(all.body.executions[0].status, "RUNNING");
  assert.equal(all.body.executions[0].agent, "tester");
  assert.equal(typeof all.body.executions[0].createdAt, "number");

  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.call(
      "GET",
      `/executions?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    assert.equal(page.status, 200, page.text);
    seen.push(...page.body.executions.map((e: { executionId: string }) => e.executionId));
    cursor = page.body.nextCursor;
  } while (cursor);
  assert.deepEqual(seen, ids);

  const only = async (query: string) =>
    (await api.call("GET", `/executions?${query}`)).body.executions.map((e: {
      executionId: string;
    }) => e.executionId);
  assert.deepEqual(await only("status=RUNNING"), [running.executionId]);
  assert.deepEqual(await only("status=SUCCESS&status=RUNNING"), ids);
  assert.deepEqual(await only("status=SUCCESS,CANCELLED&agent=tester"), ids.slice(1));
  assert.deepEqual(await only("agent=researcher"), []);
  assert.deepEqual(await only("waitingFor=approval,signal"), []);
  const created = all.body.executions[1].createdAt;
  assert.deepEqual(
    await only(`createdAfter=${new Date(created).toISOString()}&createdBefore=${created + 1}`),
    [ids[1]],
  );
  await api.call("POST", `/executions/${running.executionId}/cancel`, { body: "{}" });
});

Deno.test("GET /executions answers 400 naming a bad parameter", async () => {
  await using api = await startTestServer();
  const cases: [string, RegExp][] = [
    ["status=DONE", /"status" "DONE": expected one of QUEUED, RUNNING/],
    ["status=RUNNING,nope", /"status" "nope"/],
    ["waitingFor=lunch", /"waitingFor" "lunch": expected one of signal, timer, approval, decision/],
    ["limit=0", /"limit"/],
    ["limit=501", /"limit"/],
    ["limit=99999999999999999999", /"limit"/],
    ["limit=ten", /"limit"/],
    ["cursor=%%%", /"cursor"/],
    ["cursor=eyJhIjoxfQ", /"cursor"/],
    ["createdAfter=yesterday", /"createdAfter"/],
    ["createdBefore=-5", /"createdBefore"/],
    [`agent=${"a".repeat(300)}`, /"agent"/],
  ];
  for (const [query, message] of cases) {
    const answer = await api.call("GET", `/executions?${query}`);
    assert.equal(answer.status, 400, `${query}: ${answer.text}`);
    assert.equal(answer.body.error.code, "invalid_parameter", query);
    assert.match(answer.body.error.message, message, query);
    assert.ok(answer.text.length < 600, `${query}: the bad value is not echoed whole`);
  }
});

Deno.test("GET /executions carries an ETag: an unchanged page is a 304, a changed one is not", async () => {
  await using api = await startTestServer();
  const first = await api.call("GET", "/executions?limit=5");
  const tag = first.headers.get("etag");
  assert.ok(tag, "an ETag");
  const same = await api.call("GET", "/executions?limit=5", { headers: { "if-none-match": tag } });
  assert.equal(same.status, 304);
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "flaky", task: { items: 1 } }),
  });
  await api.waitFor(body.executionId, (s) => s.status === "SUCCESS");
  const changed = await api.call("GET", "/executions?limit=5", {
    headers: { "if-none-match": tag },
  });
  assert.equal(changed.status, 200);
  assert.equal(changed.body.executions[0].executionId, body.executionId);
});
