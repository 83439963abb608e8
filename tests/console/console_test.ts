// The operators' console in a real browser (Chromium through
// playwright-core) against a real API server: login, the live list and
// timeline, the restart of a crashed worker, cancel, approvals, the queue's
// dead letters, a refused token, keyboard and labels. Each test writes a
// screenshot of the pages it opens (tests/console/_browser.ts names the folder).
import assert from "node:assert/strict";
import { screenshot } from "./_browser.ts";
import { consoleSession, TOKEN, unnamedControls, waitForStatus } from "./_console.ts";
import { CHARGE, parkOnDecision } from "../api/_parked.ts";
import { cuttableProxy } from "./_proxy.ts";
import { InMemoryJobQueue } from "../../src/queue/in_memory_job_queue.ts";

const browserTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });

const sleeps = (n: number, ms: number) => ({
  calls: Array.from({ length: n }, () => ({ tool: "sleep", args: { ms } })),
});

browserTest(
  "an operator logs in, sees a new execution appear and its timeline grow while it runs",
  async () => {
    await using s = await consoleSession();
    const { page } = s;
    await page.goto(`${s.api.url}/ui/executions`);
    await screenshot(page, "login");
    await page.getByLabel("API token").fill("not-the-token-at-all");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").filter({ hasText: "refused" }).waitFor();
    await page.getByLabel("API token").fill(TOKEN);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Executions" }).waitFor();
    // The token is in the session, not in any URL.
    assert.equal(await page.evaluate(() => sessionStorage.getItem("oao.token")), TOKEN);
    assert.ok(!page.url().includes(TOKEN));

    const id = await s.submit("tester", sleeps(8, 700));
    const row = page.locator(`tr[data-id="${id}"]`);
    await row.waitFor(); // appears without a reload
    await row.getByText("RUNNING").waitFor();
    await screenshot(page, "executions");
    await row.getByRole("link", { name: id }).click();
    await page.getByRole("heading", { name: id }).waitFor();
    const timeline = page.locator("ol.timeline");
    await page.getByText("TOOL_CALL", { exact: true }).first().waitFor();
    const early = Number(await timeline.getAttribute("data-count"));
    assert.equal((await waitForStatus(s.api, id, () => true)).status, "RUNNING");
    await timeline.locator("li").nth(early).waitFor(); // one more event arrived, no reload
    await page.getByText("EXECUTION_COMPLETED").waitFor();
    await page.locator(".facts").getByText("SUCCESS").waitFor();
    await page.getByRole("heading", { name: "Output" }).waitFor();
    await screenshot(page, "execution-running-then-done");
    // Back in the list, the status changed without a reload.
    await page.getByRole("link", { name: "← Executions" }).click();
    await row.getByText("SUCCESS").waitFor();
    assert.deepEqual(s.errors, []);
  },
);

browserTest(
  "the execution of a worker that crashed shows the restart in its waterfall and timeline",
  async () => {
    await using s = await consoleSession({
      login: true,
      traceUrl: "http://localhost:16686/trace/{traceId}",
    });
    const id = await s.submit("flaky", { items: 3 });
    await waitForStatus(s.api, id, (b) => b.status === "SUCCESS");
    const { page } = s;
    await page.goto(`${s.api.url}/ui/executions/${id}`);
    await page.getByText("EXECUTION_COMPLETED").waitFor();
    const restart = page.locator(".waterfall .wf-restart");
    await restart.waitFor();
    assert.match(await restart.innerText(), /Restart \(incarnation 2\)/);
    assert.equal(await page.locator(".waterfall .wf-retry").count(), 1);
    await page.locator(".timeline .tl-restart").getByText("ACTOR_RESTARTED").waitFor();
    // Policy usage as bars, and the trace id linked to the tracing UI.
    assert.equal(
      await page.getByRole("meter", { name: "Tool calls" }).getAttribute("aria-valuenow"),
      "3",
    );
    const trace = page.locator(".facts a[href^='http://localhost:16686/trace/']");
    assert.match(await trace.innerText(), /^[0-9a-f]{32}$/);
    // Replay: the execution rebuilt from its log alone, its tool calls with their outcomes.
    await page.getByRole("button", { name: "Replay" }).click();
    const replay = page.getByRole("status", { name: "Replay" });
    await replay.waitFor();
    assert.match(
      await replay.innerText(),
      /Rebuilt from its \d+ events alone[\s\S]*SUCCESS, 5 steps/,
    );
    const outcomes = await page.getByRole("table", { name: "Tool calls of the replay" })
      .locator("tbody tr td:nth-child(3)").allInnerTexts();
    assert.deepEqual(outcomes, ["success", "success", "skipped", "skipped", "success"]);
    await screenshot(page, "execution-restarted");
    // Dark mode follows the system's setting.
    const background = () => page.evaluate("getComputedStyle(document.body).backgroundColor");
    const light = await background();
    await page.emulateMedia({ colorScheme: "dark" });
    assert.notEqual(await background(), light);
    await screenshot(page, "execution-restarted-dark");
    assert.deepEqual(s.errors, []);
  },
);

browserTest("an operator cancels a running execution after confirming", async () => {
  await using s = await consoleSession({ login: true });
  const id = await s.submit("tester", sleeps(1, 60_000));
  const { page } = s;
  await page.goto(`${s.api.url}/ui/executions/${id}`);
  await page.locator(".facts").getByText("RUNNING").waitFor();
  await page.getByRole("button", { name: "Cancel", exact: true }).click();
  await page.getByLabel("Reason").fill("no longer needed");
  await screenshot(page, "execution-cancel-confirm");
  await page.getByRole("button", { name: "Confirm cancel" }).click();
  await page.locator(".facts").getByText("CANCELLED").waitFor();
  const status = await waitForStatus(s.api, id, (b) => b.status === "CANCELLED");
  assert.match(JSON.stringify(status), /no longer needed/);
  assert.ok(await page.getByRole("button", { name: "Cancel", exact: true }).isDisabled());
});

browserTest(
  "an operator approves a pending tool call with a reason and the execution goes on",
  async () => {
    await using s = await consoleSession({ login: true });
    const id = await s.submit("tester", { calls: [{ tool: "process_item", args: { item: 42 } }] }, {
      requireApproval: ["process_item"],
    });
    await waitForStatus(s.api, id, (b) => b.waitingFor !== undefined);
    const { page } = s;
    await page.goto(`${s.api.url}/ui/approvals`);
    const card = page.locator("li.approval").filter({ hasText: id });
    await card.waitFor();
    assert.match(await card.locator("pre").innerText(), /"item": 42/);
    await card.getByLabel("Reason").fill("looks right");
    await screenshot(page, "approvals");
    await card.getByRole("button", { name: "Approve" }).click();
    await page.getByText("No call waits for approval.").waitFor();
    const done = await waitForStatus(s.api, id, (b) => b.status === "SUCCESS");
    assert.equal(done.status, "SUCCESS");
    const events = await s.api.call("GET", `/executions/${id}/events`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.match(events.text, /looks right/);
  },
);

browserTest("an operator re-enqueues a dead job from the queue page", async () => {
  const queue = new InMemoryJobQueue();
  await using s = await consoleSession({ login: true, queue });
  const { jobId } = await queue.enqueue({ executionId: "exec-dead-ui", agent: "echo", task: {} }, {
    maxAttempts: 1,
  });
  const [lease] = await queue.reserve("worker-1");
  await queue.fail(lease!, "connection reset by the model provider", { retry: false });
  const { page } = s;
  await page.goto(`${s.api.url}/ui/queue`);
  const row = page.locator(`tr[data-job="${jobId}"]`);
  await row.getByText("connection reset by the model provider").waitFor();
  await screenshot(page, "queue");
  await row.getByRole("button", { name: "Re-enqueue" }).click();
  await row.getByRole("button", { name: "Confirm re-enqueue" }).click();
  await page.getByText("No dead jobs.").waitFor();
  assert.deepEqual(await queue.stats(), { waiting: 1, delayed: 0, inFlight: 0, dead: 0 });
  await queue.close();
});

browserTest("a refused token sends the operator back to the login form", async () => {
  await using s = await consoleSession({ login: true });
  const { page } = s;
  await page.goto(`${s.api.url}/ui/agents`);
  await page.getByRole("heading", { name: "Agents", exact: true }).waitFor();
  const prober = page.locator('tr[data-agent="prober"]');
  await prober.getByText("net: api.example.com").waitFor();
  assert.match(await prober.innerText(), /sleep[\s\S]*execution[\s\S]*2/);
  assert.match(await page.locator('tr[data-agent="flaky"]').innerText(), /1\.0\.0[\s\S]*all/);
  await screenshot(page, "agents");
  // The token changes under the console (rotated on the server, say): the next call gets 401.
  await page.evaluate(() => sessionStorage.setItem("oao.token", "a-rotated-old-token"));
  await page.getByRole("link", { name: "Executions" }).click();
  await page.getByLabel("API token").waitFor();
  await page.getByText("log in again").waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("oao.token")), null);
  // Logging out forgets the token too.
  await page.getByLabel("API token").fill(TOKEN);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByLabel("API token").waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("oao.token")), null);
});

browserTest(
  "every control has an accessible name and the keyboard reaches them with a visible focus",
  async () => {
    await using s = await consoleSession({ login: true });
    const id = await s.submit("flaky", { items: 3 });
    await waitForStatus(s.api, id, (b) => b.status === "SUCCESS");
    const { page } = s;
    for (
      const path of [
        "/ui",
        "/ui/executions",
        `/ui/executions/${id}`,
        "/ui/approvals",
        "/ui/queue",
        "/ui/agents",
      ]
    ) {
      await page.goto(`${s.api.url}${path}`);
      await page.locator("main h1").waitFor();
      await page.waitForLoadState("networkidle").catch(() => {});
      assert.deepEqual(await unnamedControls(page), [], path);
      if (path === "/ui") await screenshot(page, "overview");
    }
    await page.goto(`${s.api.url}/ui/executions`);
    await page.locator(`tr[data-id="${id}"]`).waitFor();
    const reached: string[] = [];
    for (let i = 0; i < 14; i++) {
      await page.keyboard.press("Tab");
      reached.push(
        await page.evaluate(`(() => {
        const el = document.activeElement;
        const text = (el.textContent || "").trim().slice(0, 30) || el.id;
        return el.tagName.toLowerCase() + ":" + text + ":" + getComputedStyle(el).outlineStyle;
      })()`) as string,
      );
    }
    for (const wanted of ["a:Executions", "select:", "input:search-id", "button:Open", `a:${id}`]) {
      assert.ok(
        reached.some((r) => r.startsWith(wanted)),
        `${wanted} not reached: ${reached.join(", ")}`,
      );
    }
    // (Past the last control the focus leaves the page: the body has no outline.)
    const controls = reached.filter((r) => !r.startsWith("body:"));
    assert.ok(
      controls.every((r) => !r.endsWith(":none")),
      `a control has no focus outline: ${reached}`,
    );
    // Enter on a focused link opens it.
    await page.locator(`tr[data-id="${id}"] a`).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: id }).waitFor();
  },
);

browserTest("the console is usable on a phone", async () => {
  await using s = await consoleSession({ login: true, viewport: { width: 390, height: 844 } });
  const id = await s.submit("flaky", { items: 3 });
  await waitForStatus(s.api, id, (b) => b.status === "SUCCESS");
  const { page } = s;
  await page.goto(`${s.api.url}/ui/executions/${id}`);
  await page.getByText("EXECUTION_COMPLETED").waitFor();
  const overflow = await page.evaluate(
    "document.documentElement.scrollWidth - innerWidth",
  ) as number;
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than the phone`);
  await screenshot(page, "execution-phone");
});

browserTest(
  "after a network drop the timeline reopens from the last event seen, with a new stream token",
  async () => {
    await using s = await consoleSession({ login: true });
    const id = await s.submit("tester", sleeps(8, 500));
    const { page } = s;
    const streams: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes(`/executions/${id}/stream?`)) streams.push(r.url());
    });
    await using proxy = cuttableProxy({ hostname: "127.0.0.1", port: s.api.server.port });
    await page.goto(`${proxy.url}/ui/executions/${id}`);
    await page.getByText("TOOL_CALL", { exact: true }).first().waitFor();
    proxy.cut(); // the stream's connection drops
    await page.getByText("EXECUTION_COMPLETED").waitFor();
    assert.ok(streams.length >= 2, `reopened: ${streams.join(" ")}`);
    const reopened = new URL(streams.at(-1)!);
    assert.ok(Number(reopened.searchParams.get("after")) > 0, reopened.href);
    assert.notEqual(
      new URL(streams[0]!).searchParams.get("token"),
      reopened.searchParams.get("token"),
      "a new stream token",
    );
    // Every event once, in order.
    const seqs = (await page.locator(".tl-seq").allInnerTexts()).map((t) => Number(t.slice(1)));
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
  },
);

browserTest("an operator forks a finished execution from a step, and runs one again", async () => {
  await using s = await consoleSession({ login: true });
  const id = await s.submit("flaky", { items: 3 });
  await waitForStatus(s.api, id, (b) => b.status === "SUCCESS");
  const { page } = s;
  await page.goto(`${s.api.url}/ui/executions/${id}`);
  await page.getByText("EXECUTION_COMPLETED").waitFor();
  await page.getByRole("button", { name: "Fork" }).click();
  await page.getByLabel("From step").selectOption("2");
  await page.getByRole("button", { name: "Confirm fork" }).click();
  await page.waitForURL((url) =>
    url.pathname.startsWith("/ui/executions/") && !url.pathname.endsWith(id)
  );
  const forked = decodeURIComponent(new URL(page.url()).pathname.split("/").at(-1)!);
  await page.getByRole("heading", { name: forked }).waitFor();
  await page.locator(".facts").getByText("SUCCESS").waitFor();
  const events = await s.api.call("GET", `/executions/${forked}/events`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.match(events.text, new RegExp(`"forkedFrom":\\{"executionId":"${id}","step":2`));
  // Run again: a new execution with the same agent and task.
  await page.getByRole("button", { name: "Run again" }).click();
  await page.getByRole("button", { name: "Confirm run again" }).click();
  await page.waitForURL((url) => !url.pathname.endsWith(forked));
  const again = decodeURIComponent(new URL(page.url()).pathname.split("/").at(-1)!);
  const status = await waitForStatus(s.api, again, (b) => b.status === "SUCCESS");
  assert.equal(status.agent, "flaky");
  assert.deepEqual(status.task, { items: 3 });
  assert.deepEqual(s.errors, []);
});

browserTest(
  "the overview charts executions per minute, step durations and retries from the metrics",
  async () => {
    await using s = await consoleSession({ login: true });
    const first = await s.submit("flaky", { items: 3 });
    await waitForStatus(s.api, first, (b) => b.status === "SUCCESS");
    const { page } = s;
    await page.goto(`${s.api.url}/ui`);
    const chart = (title: string) => page.locator("figure").filter({ hasText: title });
    await chart("Executions finished, by status").locator("text", { hasText: "SUCCESS" }).waitFor();
    await chart("p95").locator("text", { hasText: "EXECUTE" }).waitFor();
    await chart("Retries").locator("text", { hasText: "actor_restart" }).waitFor();
    // A rate needs two readings of the counter (every 5 s) with an execution between them.
    const second = await s.submit("flaky", { items: 1 });
    await waitForStatus(s.api, second, (b) => b.status === "SUCCESS");
    const perMinute = chart("per minute");
    await perMinute.locator("text", { hasText: "SUCCESS" }).waitFor({ timeout: 15_000 });
    assert.ok(Number(await perMinute.locator("text.chart-value").first().textContent()) > 0);
    await screenshot(page, "overview-charts");
  },
);

browserTest(
  "on a server without a token the console opens without a login, and finds an execution by id",
  async () => {
    await using s = await consoleSession({ open: true });
    const id = await s.submit("flaky", { items: 1 });
    const { page } = s;
    await page.goto(`${s.api.url}/ui/executions`);
    await page.getByRole("heading", { name: "Executions" }).waitFor();
    assert.equal(await page.getByLabel("API token").count(), 0);
    assert.equal(await page.getByRole("button", { name: "Log out" }).count(), 0);
    await page.getByLabel("Execution id").fill("exec-no-such-one");
    await page.getByRole("button", { name: "Open" }).click();
    await page.getByRole("alert").filter({ hasText: "exec-no-such-one" }).waitFor();
    await page.getByLabel("Execution id").fill(id);
    await page.getByRole("button", { name: "Open" }).click();
    await page.getByRole("heading", { name: id }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/ui/executions/${id}`);
  },
);

browserTest("an operator denies a pending call with a reason, which the log records", async () => {
  await using s = await consoleSession({ login: true });
  const id = await s.submit("tester", {
    calls: [{ tool: "process_item", args: { item: 1 } }],
    catchToolErrors: true,
  }, { requireApproval: ["process_item"] });
  await waitForStatus(s.api, id, (b) => b.waitingFor !== undefined);
  const { page } = s;
  await page.goto(`${s.api.url}/ui/approvals`);
  const card = page.locator("li.approval").filter({ hasText: id });
  await card.getByLabel("Reason").fill("not this item");
  await card.getByRole("button", { name: "Deny" }).click();
  await page.getByText("No call waits for approval.").waitFor();
  await waitForStatus(s.api, id, (b) => b.status === "SUCCESS" || b.status === "FAILED");
  const events = await s.api.call("GET", `/executions/${id}/events`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.match(events.text, /"decision":"deny"/);
  assert.match(events.text, /not this item/);
});

browserTest(
  "an operator decides a call a crash left unknown: a wrong result is refused in place, a failure needs a reason, and the execution goes on with the result given",
  async () => {
    await using s = await consoleSession({ login: true, tools: [CHARGE as never] });
    const id = await parkOnDecision(s.api, (task) => s.submit("tester", task));
    const { page } = s;
    await page.goto(`${s.api.url}/ui/executions/${encodeURIComponent(id)}`);
    const card = page.locator("section.decision");
    await card.getByRole("heading", { name: "Decision needed" }).waitFor();
    await card.getByText("charge", { exact: true }).waitFor();
    assert.match(await card.getByLabel("Arguments of the call").innerText(), /"amount": 5/);
    await screenshot(page, "decision-needed");

    await card.getByRole("button", { name: "It failed" }).click();
    await card.getByRole("button", { name: "Confirm it failed" }).click();
    await card.getByRole("alert").filter({ hasText: "Say why the call failed" }).waitFor();
    await card.getByRole("button", { name: "Back" }).click();

    await card.getByRole("button", { name: "It succeeded" }).click();
    await card.getByLabel("Result (JSON)").fill("{receipt: r-1}");
    await card.getByRole("button", { name: "Confirm it succeeded" }).click();
    await card.getByRole("alert").filter({ hasText: "The result is not JSON" }).waitFor();
    assert.equal((await waitForStatus(s.api, id, () => true)).status, "NEEDS_DECISION");
    await card.getByLabel("Result (JSON)").fill('{"receipt":"r-1"}');
    await card.getByRole("button", { name: "Confirm it succeeded" }).click();

    await page.locator(".facts").getByText("SUCCESS").waitFor();
    assert.equal(await page.locator("section.decision").count(), 0, "the card is gone");
    const events = await s.api.orchestrator.eventStore.readRange(id);
    const recorded = events.filter((e) => e.type === "DECISION_RECORDED");
    assert.equal(recorded.length, 1);
    assert.match(JSON.stringify(recorded[0]!.data), /"receipt":"r-1"/);
    assert.deepEqual(await unnamedControls(page), []);
    assert.deepEqual(s.errors, []);
  },
);
