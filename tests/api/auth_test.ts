// With a token, every route but the health checks needs `Authorization: Bearer`.
import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";
import { API_ROUTES } from "../../src/api/api_routes.ts";

Deno.test("with a token, every route but /healthz and /readyz answers 401 without it", async () => {
  await using api = await startTestServer({ token: "s3cret-token" });
  for (const route of API_ROUTES) {
    const path = route.spec.path.replace("{id}", "exec-x");
    const method = route.spec.method.toUpperCase();
    const response = await api.call(method, path);
    if (route.public) {
      assert.ok(
        ["/healthz", "/readyz"].includes(path) || /^\/(docs|ui)\b/.test(path),
        path,
      );
      // The console's files hold no data: `{file}` is no file of it (404), the rest answer.
      assert.equal(response.status, path === "/ui/assets/{file}" ? 404 : 200, path);
    } else {
      assert.equal(response.status, 401, `${method} ${path}`);
      assert.equal(response.body.error.code, "unauthorized");
      assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer/);
    }
  }
});

Deno.test("a wrong token is 401; the right one is accepted", async () => {
  await using api = await startTestServer({ token: "s3cret-token" });
  const wrong = await api.call("GET", "/agents", { headers: { authorization: "Bearer nope" } });
  assert.equal(wrong.status, 401);
  const scheme = await api.call("GET", "/agents", {
    headers: { authorization: "Basic s3cret-token" },
  });
  assert.equal(scheme.status, 401);
  const prefix = await api.call("GET", "/agents", { headers: { authorization: "Bearer s3cret" } });
  assert.equal(prefix.status, 401);
  const right = await api.call("GET", "/agents", {
    headers: { authorization: "Bearer s3cret-token" },
  });
  assert.equal(right.status, 200);
  const submit = await api.call("POST", "/executions", {
    body: JSON.stringify({ agent: "flaky", task: { items: 1 } }),
    headers: { "content-type": "application/json", authorization: "Bearer s3cret-token" },
  });
  assert.equal(submit.status, 202);
  const auth = { authorization: "Bearer s3cret-token" };
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { body } = await api.call("GET", `/executions/${submit.body.executionId}`, {
      headers: auth,
    });
    if (body.status !== "RUNNING") break;
    await new Promise((r) => setTimeout(r, 20));
  }
});

Deno.test("without a token, the API is open", async () => {
  await using api = await startTestServer();
  assert.equal((await api.call("GET", "/metrics")).status, 200);
});
