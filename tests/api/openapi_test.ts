// The OpenAPI document is generated from the routes the server serves, and
// passes a linter nobody here wrote (Redocly).
import assert from "node:assert/strict";
import { API_ROUTES } from "../../src/api/api_routes.ts";
import { schemaProblems } from "./_json_schema.ts";
import { type Json, startTestServer } from "./_server.ts";

Deno.test("/openapi.json describes exactly the documented routes, with their public flag", async () => {
  await using api = await startTestServer();
  const { status, body: doc } = await api.call("GET", "/openapi.json");
  assert.equal(status, 200);
  assert.equal(doc.openapi, "3.1.0");
  assert.equal(doc.servers[0].url, api.url, "the server's own URL");
  assert.equal(doc.info.license.name, "MIT");
  const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
  const served = API_ROUTES.filter((r) => !r.undocumented)
    .map((r) => `${r.spec.method.toUpperCase()} ${r.spec.path}`).sort();
  assert.deepEqual(documented, served);
  for (const route of API_ROUTES.filter((r) => !r.undocumented)) {
    const op = doc.paths[route.spec.path][route.spec.method];
    assert.equal(
      Array.isArray(op.security) && op.security.length === 0,
      route.public === true,
      route.spec.path,
    );
    for (
      const [code, response] of Object.entries(
        op.responses as Record<string, { content?: unknown }>,
      )
    ) {
      if (Number(code) >= 400) assert.ok(response.content, `${route.spec.path} ${code} has a body`);
    }
  }
  assert.ok(doc.components.schemas.SubmitRequest.properties.agent.enum.includes("researcher"));
  assert.deepEqual(doc.components.schemas.SubmitRequest.required, ["agent", "task"]);
});

Deno.test("every $ref of the OpenAPI document resolves", async () => {
  await using api = await startTestServer();
  const { body: doc } = await api.call("GET", "/openapi.json");
  const names = [...JSON.stringify(doc).matchAll(/"#\/components\/schemas\/(\w+)"/g)].map((m) =>
    m[1]!
  );
  assert.ok(names.length > 5);
  for (const name of names) assert.ok(doc.components.schemas[name], `missing schema ${name}`);
});

Deno.test("the document passes `redocly lint` with no error and no warning", async () => {
  await using api = await startTestServer();
  const { body: doc } = await api.call("GET", "/openapi.json");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/openapi.json`, JSON.stringify(doc));
    const lint = await new Deno.Command("npx", {
      args: ["-y", "@redocly/cli@2", "lint", "--format", "json", `${dir}/openapi.json`],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
    }).output();
    const out = new TextDecoder().decode(lint.stdout);
    const err = new TextDecoder().decode(lint.stderr);
    assert.equal(lint.code, 0, `redocly lint failed:\n${out}\n${err}`);
    const problems = (JSON.parse(out) as { problems: { severity: string; message: string }[] })
      .problems;
    assert.deepEqual(problems.map((p) => `${p.severity}: ${p.message}`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("live answers of GET /executions/:id, its events and its replay match the document's schemas, running and finished", async () => {
  await using api = await startTestServer();
  const { body: doc } = await api.call("GET", "/openapi.json");
  const check = async (path: string, template: string) => {
    const response = await api.call("GET", path);
    assert.equal(response.status, 200, `${path}: ${response.text}`);
    const schema = doc.paths[template].get.responses["200"].content["application/json"].schema;
    assert.deepEqual(schemaProblems(doc, schema, response.body), [], `GET ${path}`);
    return response.body as Json;
  };
  // The check can fail: a limit written as null where a number is required.
  assert.ok(
    schemaProblems(doc, doc.components.schemas.Policy, { maxCostUsd: null }).length > 0,
    "the request's Policy refuses null",
  );
  const { body } = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "waiter", task: { signal: { name: "go" } } }),
  });
  const id = body.executionId;
  await api.waitFor(id, (s) => s.waitingFor?.kind === "signal");
  const running = await check(`/executions/${id}`, "/executions/{id}");
  // Unlimited by default: Infinity, written as null.
  assert.equal(running.policy.maxCostUsd, null);
  assert.equal(running.policy.approvalTimeoutMs, null);
  const replay = await check(`/executions/${id}/replay`, "/executions/{id}/replay");
  assert.equal(replay.report.status, "RUNNING");
  await check(`/executions/${id}/events`, "/executions/{id}/events");
  await api.call("POST", `/executions/${id}/signals/go`, { body: "{}" });
  await api.waitFor(id, (s) => s.status !== "RUNNING");
  const done = await check(`/executions/${id}`, "/executions/{id}");
  assert.equal(done.report.status, "SUCCESS");
  await check(`/executions/${id}/replay`, "/executions/{id}/replay");
  await check(`/executions/${id}/events`, "/executions/{id}/events");
  await check("/executions", "/executions");
});
