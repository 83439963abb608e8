// `oao start` as a process: serves the API, runs executions, shuts down on SIGTERM.
import assert from "node:assert/strict";
import { oao, oaoServer } from "./_cli.ts";

Deno.test("`start` serves the API on the in-memory stores and stops gracefully on SIGTERM with exit 0", async () => {
  await using server = await oaoServer(["start", "--port", "0"]);
  const submit = await fetch(`${server.url}/executions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ agent: "flaky", task: { items: 2 } }),
  });
  assert.equal(submit.status, 202);
  const { executionId } = await submit.json();
  let status;
  for (let i = 0; i < 400; i++) {
    status = await (await fetch(`${server.url}/executions/${executionId}`)).json();
    if (status.status !== "RUNNING") break;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(status.status, "SUCCESS");
  const { code, stderr } = await server.stop("SIGTERM");
  assert.equal(code, 0, stderr);
  const storeLines = stderr.split("\n").filter((l) => /in-memory stores/.test(l));
  assert.equal(storeLines.length, 1, stderr);
  assert.match(stderr, /Shutting down/);
});

Deno.test("`start` drains on SIGINT (503 shutting_down, streams end), cancels what still runs after the grace period, exits 0", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/slow_tools.ts`,
      `
      export const wait = {
        name: "wait",
        idempotent: true,
        run: (_args, ctx) => new Promise((resolve) => {
          const t = setTimeout(resolve, 60000);
          ctx.signal.addEventListener("abort", () => { clearTimeout(t); resolve(null); });
        }),
      };`,
    );
    await Deno.writeTextFile(
      `${dir}/slow_agent.ts`,
      `
      import { defineAgent } from ${
        JSON.stringify(new URL("../../src/orchestrator/agent.ts", import.meta.url).href)
      };
      export default defineAgent({ async execute(ctx) { await ctx.tool("wait", {}); } });`,
    );
    await Deno.writeTextFile(
      `${dir}/oao.json`,
      JSON.stringify({
        agents: [{ name: "slow", module: "./slow_agent.ts" }],
        tools: ["./slow_tools.ts"],
      }),
    );
    await using server = await oaoServer(
      ["start", "--port", "0", "--config", `${dir}/oao.json`, "--shutdown-grace-ms", "1500"],
    );
    const submit = await fetch(`${server.url}/executions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ agent: "slow", task: {} }),
    });
    assert.equal(submit.status, 202);
    const { executionId } = await submit.json();
    const stream = await fetch(`${server.url}/executions/${executionId}/stream`);
    const text = stream.text();
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    const stopping = server.stop("SIGINT");
    await new Promise((r) => setTimeout(r, 300));
    // Through the grace period the listener stays open and says it is stopping.
    const refused = await fetch(`${server.url}/executions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ agent: "slow", task: {} }),
    });
    assert.equal(refused.status, 503);
    assert.equal((await refused.json()).error.code, "shutting_down");
    assert.match(refused.headers.get("retry-after") ?? "", /^\d+$/);
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 503);
    await ready.body?.cancel();
    assert.match(await text, /event: end\ndata: .*"reason":"server_stopping"/);
    const { code, stderr } = await stopping;
    assert.equal(code, 0, stderr);
    assert.ok(Date.now() - started < 10_000);
    assert.match(stderr, /1500 ms to finish/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`start` beyond loopback without OAO_API_TOKEN warns; with one it does not", async () => {
  await using open = await oaoServer(["start", "--port", "0", "--host", "0.0.0.0"]);
  const { stderr } = await open.stop();
  assert.match(stderr, /beyond loopback, without authentication: set OAO_API_TOKEN/);
  await using closed = await oaoServer(["start", "--port", "0", "--host", "0.0.0.0"], {
    env: { OAO_API_TOKEN: "t0ken-value-long-enough" },
  });
  const unauthorized = await fetch(`${closed.url.replace("0.0.0.0", "127.0.0.1")}/metrics`);
  assert.equal(unauthorized.status, 401);
  await unauthorized.body?.cancel();
  const result = await closed.stop();
  assert.doesNotMatch(result.stderr, /without authentication/);
});

Deno.test("`start` on a port in use exits 1 naming the address", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { port } = listener.addr as Deno.NetAddr;
    const result = await oao(["start", "--port", String(port)]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port}`));
  } finally {
    listener.close();
  }
});

Deno.test("`start` times out a client that trickles its headers (OAO_HEADERS_TIMEOUT_MS) and refuses a bad value naming it", async () => {
  await using server = await oaoServer(["start", "--port", "0", "--no-examples"], {
    env: { OAO_HEADERS_TIMEOUT_MS: "500" },
  });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: Number(new URL(server.url).port),
  });
  const encoder = new TextEncoder();
  await conn.write(encoder.encode("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  const trickle = setInterval(() => conn.write(encoder.encode("X-A: b\r\n")).catch(() => {}), 100);
  let text = "";
  const buffer = new Uint8Array(4096);
  const started = Date.now();
  try {
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } catch {
    // reset after the answer
  } finally {
    clearInterval(trickle);
    conn.close();
  }
  assert.match(text, /^HTTP\/1\.1 408 [\s\S]*header_timeout/);
  assert.ok(Date.now() - started < 5_000);
  await server.stop();
  const bad = await oao(["start", "--port", "0"], { env: { OAO_HEADERS_TIMEOUT_MS: "soon" } });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /OAO_HEADERS_TIMEOUT_MS/);
});
