// What the console's browser tests share: an API server with a token, a
// browser page logged in to its console, and a check that every control
// of a page has an accessible name.
import type { Browser, Page } from "npm:playwright-core@1.65.2";
import { type Json, PROBER, startTestServer, type TestServer } from "../api/_server.ts";
import { launchBrowser, pageErrors } from "./_browser.ts";
import type { JobQueue } from "../../src/queue/job_queue.ts";
import type { ToolDefinition } from "../../src/orchestrator/tool.ts";

/** The API token of the tests' servers. */
export const TOKEN = "console-test-token-0123";

/** A server, a browser and a page; disposing closes them all. */
export interface ConsoleSession extends AsyncDisposable {
  api: TestServer;
  browser: Browser;
  page: Page;
  /** Errors the page logged (uncaught exceptions, CSP refusals). */
  errors: string[];
  /** Submits an execution through the API; its id. */
  submit(agent: string, task: unknown, policy?: Json): Promise<string>;
}

/**
 * Starts a server and a browser; with `login`, the page holds the token in
 * its session (as after the login form) before it loads.
 */
export async function consoleSession(
  options: {
    login?: boolean;
    queue?: JobQueue;
    traceUrl?: string;
    viewport?: { width: number; height: number };
    /** A server without a token (the loopback default). */
    open?: boolean;
    /** More tools for the server's orchestrator. */
    tools?: ToolDefinition[];
  } = {},
): Promise<ConsoleSession> {
  const api = await startTestServer({
    ...(options.open ? {} : { token: TOKEN }),
    agents: [PROBER],
    ...(options.queue ? { queue: options.queue } : {}),
    ...(options.traceUrl ? { traceUrl: options.traceUrl } : {}),
    ...(options.tools ? { tools: options.tools } : {}),
  });
  let browser: Browser | undefined;
  try {
    browser = await launchBrowser();
    const page = await browser.newPage({
      viewport: options.viewport ?? { width: 1280, height: 900 },
    });
    page.setDefaultTimeout(20_000);
    const errors = pageErrors(page);
    if (options.login) {
      await page.addInitScript((token) => sessionStorage.setItem("oao.token", token), TOKEN);
    }
    const opened = browser;
    return {
      api,
      browser: opened,
      page,
      errors,
      async submit(agent, task, policy) {
        const { status, body, text } = await api.call("POST", "/executions", {
          headers: { authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify({ agent, task, ...(policy ? { policy } : {}) }),
        });
        if (status !== 202) throw new Error(`submit failed: ${status} ${text}`);
        return body.executionId;
      },
      async [Symbol.asyncDispose]() {
        await opened.close();
        await api[Symbol.asyncDispose]();
      },
    };
  } catch (error) {
    await browser?.close();
    await api[Symbol.asyncDispose]();
    throw error;
  }
}

/** The interactive elements of the page that have no accessible name (their outer HTML). */
export async function unnamedControls(page: Page): Promise<string[]> {
  // Evaluated in the page (a string: the test's own code has no DOM types).
  return await page.evaluate(`(() => {
    const unnamed = [];
    for (const el of document.querySelectorAll("a[href], button, input, select, textarea")) {
      const labels = el.labels && el.labels.length ? [...el.labels].map((l) => l.textContent).join(" ") : "";
      const name = el.getAttribute("aria-label") || labels || (el.textContent || "").trim() ||
        el.getAttribute("title") || "";
      if (!name.trim()) unnamed.push(el.outerHTML.slice(0, 200));
    }
    return unnamed;
  })()`) as string[];
}

/** Polls the API until `until` holds for the execution's status. */
export async function waitForStatus(
  api: TestServer,
  id: string,
  until: (status: Json) => boolean,
): Promise<Json> {
  const deadline = Date.now() + 20_000;
  while (true) {
    const { body } = await api.call("GET", `/executions/${id}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    if (until(body)) return body;
    if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(body).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
