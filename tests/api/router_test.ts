import assert from "node:assert/strict";
import { Router } from "../../src/api/router.ts";
import type { Route } from "../../src/api/route.ts";

const route = (method: "GET" | "POST", path: string): Route => ({
  method,
  path,
  summary: path,
  handle: () => new Response(),
});

Deno.test("the router matches parameters, decodes them, and tells 404 from 405", () => {
  const router = new Router([
    route("GET", "/executions/:id"),
    route("POST", "/executions/:id/cancel"),
  ]);
  const hit = router.match("GET", "/executions/exec%2D1");
  assert.ok("route" in hit);
  assert.equal(hit.params.id, "exec-1");
  assert.ok("route" in router.match("GET", "/executions/exec-1/"), "a trailing slash is tolerated");
  assert.deepEqual(router.match("POST", "/executions/exec-1"), { status: 405, allow: ["GET"] });
  assert.deepEqual(router.match("GET", "/executions"), { status: 404, allow: [] });
  assert.deepEqual(router.match("GET", "/executions/a/b"), { status: 404, allow: [] });
  assert.ok("route" in router.match("HEAD", "/executions/x"), "HEAD is served by GET");
});

Deno.test("the router refuses two routes with the same method and pattern", () => {
  assert.throws(
    () => new Router([route("GET", "/a/:x"), route("GET", "/a/:y")]),
    /Duplicate route "GET \/a\/:y"/,
  );
});
