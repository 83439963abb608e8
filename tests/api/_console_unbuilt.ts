// Run without --allow-run and with an empty bundle cache (console_routes_test.ts):
// prints the status, CSP and body of GET /ui and of the asset it would name.
import { createApiApp } from "../../src/api/app.ts";
import { OaoMetrics } from "../../src/api/metrics.ts";
import { LocalBackend } from "../../src/orchestrator/local_backend.ts";
import { Orchestrator } from "../../src/orchestrator/orchestrator.ts";

const orchestrator = new Orchestrator();
const app = createApiApp({
  backend: new LocalBackend(orchestrator),
  eventStore: orchestrator.eventStore,
  metrics: new OaoMetrics(),
  token: "a-token-of-16-chars!",
});
const page = await app.request("/ui/executions");
const asset = await app.request("/ui/assets/app.0123456789abcdef.js");
console.log(JSON.stringify({
  status: page.status,
  csp: page.headers.get("content-security-policy"),
  body: await page.text(),
  asset: asset.status,
}));
await orchestrator.close();
