// A provider answering 200 with a body that is not an answer (a proxy's HTML
// page, truncated JSON): a plain call says so, and does not call it a broken
// stream. Over real HTTP, against a server of this test.
import assert from "node:assert/strict";
import { callModel } from "../../src/model/model_call.ts";
import { ModelCallError } from "../../src/model/model_errors.ts";
import { ModelProviders } from "../../src/model/providers.ts";

Deno.test("a plain call answered 200 with a body that is no answer fails as provider_error, naming it", async () => {
  let requests = 0;
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    return new Response("<html>gateway says hi</html>", {
      headers: { "content-type": "application/json" },
    });
  });
  const providers = new ModelProviders({
    openai: { apiKey: "sk-test-1234", baseURL: `http://127.0.0.1:${server.addr.port}/v1` },
    env: () => undefined,
  });
  await assert.rejects(
    callModel({ model: "openai:gpt-4o-mini", prompt: "Hi" }, {
      providers,
      maxAttempts: 2,
      backoff: { minMs: 1, maxMs: 2 },
    }),
    (error: unknown) => {
      assert.ok(error instanceof ModelCallError);
      assert.equal(error.reason, "provider_error");
      assert.match(error.message, /the provider answered 200 with no valid answer/);
      assert.doesNotMatch(error.message, /broke off/);
      return true;
    },
  );
  assert.equal(requests, 2, "retried like a provider error");
});
