// The OpenAPI document describes exactly the router's routes.
import assert from "node:assert/strict";
import { API_ROUTES } from "../../src/api/api_routes.ts";
import { startTestServer } from "./_server.ts";

Deno.test("/openapi.json lists exactly the routes the server serves, with their public flag", async () => {
  await using api = await startTestServer();
  const { status, body: doc } = await api.call("GET", "/openapi.json");
  assert.equal(status, 200);
  assert.equal(doc.openapi, "3.1.0");
  const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
  const served = api.server.router.routes
    .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`).sort();
  assert.deepEqual(documented, served);
  assert.deepEqual(
    served,
    API_ROUTES.map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`).sort(),
  );
  for (const route of API_ROUTES) {
    const op = doc.paths[route.path.replace(/:(\w+)/g, "{$1}")][route.method.toLowerCase()];
    assert.equal(
      Array.isArray(op.security) && op.security.length === 0,
      route.public === true,
      route.path,
    );
    for (
      const [code, response] of Object.entries(
        op.responses as Record<string, { content?: unknown }>,
      )
    ) {
      if (Number(code) >= 400) assert.ok(response.content, `${route.path} ${code} has a body`);
    }
  }
  assert.ok(doc.components.schemas.SubmitRequest.properties.agent.enum.includes("researcher"));
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
