/**
 * The operators' console at `/ui`: one page (`index.html`, also answered
 * for every `/ui/*` path the client routes), its script and style sheet
 * under names that carry their content hash (cached for a year,
 * `immutable`), and `/ui/config.json` (the tracing UI's URL template). The
 * files hold no data and need no token; every call the console makes to
 * the API carries the bearer token the operator logged in with. A strict
 * Content-Security-Policy: nothing from elsewhere, no inline script, no
 * framing. When the console is not built and cannot be built here, `/ui`
 * answers 503 with a page naming the task that builds it.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, json } from "../_http.ts";
import { getOaoLogger } from "../../logging/logger.ts";
import type { ApiRoute } from "../route.ts";
import { type ConsoleBuild, consoleBuild, ConsoleUnavailableError } from "../_console_bundle.ts";

/** The console's Content-Security-Policy. */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function _page(build: ConsoleBuild): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>OAO console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/assets/app.${build.hash}.css">
<script type="module" src="/ui/assets/app.${build.hash}.js"></script>
</head>
<body>
<div id="app"><noscript>The OAO console needs JavaScript.</noscript></div>
</body>
</html>
`;
}

function _unavailablePage(reason: string): string {
  const text = reason.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>OAO console unavailable</title></head>
<body>
<h1>The OAO console is not available</h1>
<p>${text}</p>
<p>Build it with <code>deno task bundle:console</code>, then reload this page.</p>
</body>
</html>
`;
}

const HTML = "text/html; charset=utf-8";

function _uiRoute(path: string): ApiRoute {
  return {
    spec: createRoute({
      method: "get",
      path,
      summary: "Operators' console",
      security: [],
      responses: {
        200: { description: "The console", content: { "text/html": { schema: z.string() } } },
      },
    }),
    public: true,
    undocumented: true,
    produces: ["text/html"],
    etag: true,
    async handle() {
      const headers = { "content-security-policy": CONSOLE_CSP, "cache-control": "no-cache" };
      try {
        const build = await consoleBuild();
        return new Response(_page(build), { headers: { ...headers, "content-type": HTML } });
      } catch (error) {
        if (!(error instanceof ConsoleUnavailableError)) throw error;
        if (error.detail) {
          getOaoLogger("api").error("The console cannot be built: {detail}", {
            detail: error.detail,
          });
        }
        return new Response(_unavailablePage(error.message), {
          status: 503,
          headers: { ...headers, "content-type": HTML, "retry-after": "5" },
        });
      }
    },
  };
}

/** `GET /ui/assets/:file`: the script or style sheet of the current build. */
const consoleAsset: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/ui/assets/{file}",
    summary: "The console's script and style sheet",
    security: [],
    responses: {
      200: { description: "The file", content: { "text/javascript": { schema: z.string() } } },
    },
  }),
  public: true,
  undocumented: true,
  produces: ["text/javascript", "text/css"],
  async handle(c) {
    const file = c.req.param("file") ?? "";
    const match = /^app\.([0-9a-f]{16})\.(js|css)$/.exec(file);
    let build: ConsoleBuild | undefined;
    try {
      build = await consoleBuild();
    } catch (error) {
      if (!(error instanceof ConsoleUnavailableError)) throw error;
    }
    if (!match || !build || match[1] !== build.hash) {
      throw new ApiError(404, "not_found", `No console file "${file}" (reload /ui)`);
    }
    const js = match[2] === "js";
    return new Response(js ? build.js : build.css, {
      headers: {
        "content-type": js ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8",
        "cache-control": "public, max-age=31536000, immutable",
      },
    });
  },
};

/** `GET /ui/config.json`: what the console needs of the server's settings. */
const consoleConfig: ApiRoute = {
  spec: createRoute({
    method: "get",
    path: "/ui/config.json",
    summary: "The console's settings",
    security: [],
    responses: {
      200: {
        description: "Settings",
        content: { "application/json": { schema: z.object({ traceUrl: z.string().nullable() }) } },
      },
    },
  }),
  public: true,
  undocumented: true,
  produces: ["application/json"],
  handle: (_c, _input, deps) => {
    return json({ traceUrl: deps.traceUrl ?? null }, 200, { "cache-control": "no-cache" });
  },
};

/** The console's routes (the specific ones first: the page answers every other `/ui/*` path). */
export const CONSOLE_ROUTES: readonly ApiRoute[] = [
  consoleConfig,
  consoleAsset,
  _uiRoute("/ui"),
  _uiRoute("/ui/{page}"),
  _uiRoute("/ui/{page}/{id}"),
];
