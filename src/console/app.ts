// The console's frame: the login gate, the navigation and the page of the path.
import { html } from "htm/preact";
import type { VNode } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, loggedIn, logIn, logOut, onAuthChange, token } from "./api.ts";
import { Link, useLocation } from "./router.ts";
import { Login } from "./pages/login.ts";
import { Overview } from "./pages/overview.ts";
import { Executions } from "./pages/executions.ts";
import { Execution } from "./pages/execution.ts";
import { Approvals } from "./pages/approvals.ts";
import { Queue } from "./pages/queue.ts";
import { AgentsPage } from "./pages/agents.ts";

const NAV: readonly [string, string][] = [
  ["/ui", "Overview"],
  ["/ui/executions", "Executions"],
  ["/ui/approvals", "Approvals"],
  ["/ui/queue", "Queue"],
  ["/ui/agents", "Agents"],
];

function page(path: string, traceUrl: string | null): VNode {
  const execution = /^\/ui\/executions\/([^/]+)$/.exec(path);
  if (execution) {
    return html`<${Execution} id=${decodeURIComponent(execution[1]!)} traceUrl=${traceUrl} />`;
  }
  switch (path) {
    case "/ui/executions":
      return html`<${Executions} />`;
    case "/ui/approvals":
      return html`<${Approvals} />`;
    case "/ui/queue":
      return html`<${Queue} />`;
    case "/ui/agents":
      return html`<${AgentsPage} />`;
    case "/ui":
      return html`<${Overview} />`;
    default:
      return html`
        <main>
          <h1>Not found</h1>
          <p>No page "${path}". <${Link} href="/ui">Overview</${Link}></p></main>
      `;
  }
}

/** The console. */
export function App(): VNode {
  const [authed, setAuthed] = useState(loggedIn());
  const [wasLoggedIn, setWasLoggedIn] = useState(false);
  const [traceUrl, setTraceUrl] = useState<string | null>(null);
  const { path } = useLocation();
  useEffect(() =>
    onAuthChange(() => {
      setWasLoggedIn((was) => was || authed);
      setAuthed(loggedIn());
    }), [authed]);
  useEffect(() => {
    fetch("/ui/config.json").then((r) => r.json()).then((c) => setTraceUrl(c.traceUrl ?? null))
      .catch(() => {});
    // A server without a token: no login needed.
    if (!loggedIn()) api("/agents").then(() => logIn("")).catch(() => {});
  }, []);
  if (!authed) {
    return html`<${Login} notice=${
      wasLoggedIn ? "Your session ended or the token was refused: log in again." : ""
    } />`;
  }
  const current = (href: string) => href === "/ui" ? path === "/ui" : path.startsWith(href);
  return html`
    <div class="shell">
      <a class="skip" href="#content">Skip to content</a>
      <header class="top">
          <span class="brand">OAO</span>
          <nav aria-label="Console">
            ${NAV.map(([href, label]) =>
              html`<${Link} key=${href} href=${href} current=${current(href)}>${label}</${Link}>`
            )}
          </nav>
          ${token()
            ? html`<button type="button" class="logout" onClick=${logOut}>Log out</button>`
            : ""}
        </header>
      <div id="content" tabindex="-1">${page(path, traceUrl)}</div>
    </div>
  `;
}
