// The console's files at /ui: served without the token, with a strict CSP,
// caching by content hash, compression, and the page for every /ui/* path.
import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";

Deno.test("/ui answers the console's page without a token, with a strict CSP and no-cache", async () => {
  await using api = await startTestServer({ token: "a-token-of-16-chars!" });
  const page = await api.call("GET", "/ui");
  assert.equal(page.status, 200, page.text);
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
  assert.equal(page.headers.get("cache-control"), "no-cache");
  const csp = page.headers.get("content-security-policy") ?? "";
  for (const directive of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"]) {
    assert.ok(csp.includes(directive), csp);
  }
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.doesNotMatch(page.text, /<script>(?!<\/script>)/, "no inline script");
  // Every path of the client's router gets the same page.
  for (const path of ["/ui/executions", "/ui/executions/exec-1", "/ui/queue"]) {
    const other = await api.call("GET", path);
    assert.equal(other.status, 200, path);
    assert.equal(other.text, page.text, path);
  }
  // The data still needs the token.
  assert.equal((await api.call("GET", "/executions")).status, 401);
});

Deno.test("the console's script and style sheet carry their hash, are immutable and compressed", async () => {
  await using api = await startTestServer();
  const page = await api.call("GET", "/ui");
  const script = /src="(\/ui\/assets\/app\.[0-9a-f]{16}\.js)"/.exec(page.text)?.[1];
  const style = /href="(\/ui\/assets\/app\.[0-9a-f]{16}\.css)"/.exec(page.text)?.[1];
  assert.ok(script && style, page.text);
  const js = await fetch(`${api.url}${script}`, { headers: { "accept-encoding": "gzip" } });
  assert.equal(js.status, 200);
  assert.equal(js.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/);
  assert.equal(js.headers.get("content-encoding"), "gzip");
  assert.match(await js.text(), /sessionStorage/);
  const css = await api.call("GET", style);
  assert.equal(css.status, 200);
  assert.match(css.text, /prefers-color-scheme: dark/);
  // An old build's name, or no file of the console: 404.
  const old = await api.call("GET", script.replace(/\.[0-9a-f]{16}\./, ".0000000000000000."));
  assert.equal(old.status, 404);
  assert.equal((await api.call("GET", "/ui/assets/secrets.txt")).status, 404);
});

Deno.test("/ui/config.json gives the console the trace URL template", async () => {
  await using api = await startTestServer({ traceUrl: "http://localhost:16686/trace/{traceId}" });
  const config = await api.call("GET", "/ui/config.json");
  assert.equal(config.status, 200);
  assert.deepEqual(config.body, { traceUrl: "http://localhost:16686/trace/{traceId}" });
  await using none = await startTestServer();
  assert.deepEqual((await none.call("GET", "/ui/config.json")).body, { traceUrl: null });
});

Deno.test("a process that cannot build the console answers /ui with a 503 page naming the task", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-env",
        "--allow-write=" + cache,
        new URL("./_console_unbuilt.ts", import.meta.url).pathname,
      ],
      env: { OAO_BUNDLE_CACHE: cache, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const answer = JSON.parse(text.trim().split("\n").at(-1)!);
    assert.equal(answer.status, 503);
    assert.match(answer.body, /deno task bundle:console/);
    assert.match(answer.csp, /default-src 'self'/);
    assert.equal(answer.asset, 404);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
