/**
 * The interactive API reference at `/docs`: Swagger UI, served from the
 * `swagger-ui-dist` package (no CDN, works offline), reading
 * `/openapi.json`. When the server has a token, the page asks for it once
 * and keeps it in the browser's session storage (never in a URL); every
 * request the page sends carries it as a bearer token.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError } from "../_http.ts";
import type { ApiRoute } from "../route.ts";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>OAO API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

const INIT = `"use strict";
const KEY = "oao.token";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#ui",
  deepLinking: true,
  requestInterceptor(request) {
    const token = sessionStorage.getItem(KEY);
    if (token && !request.headers.Authorization) request.headers.Authorization = "Bearer " + token;
    return request;
  },
  responseInterceptor(response) {
    if (response.status === 401 && new URL(response.url).pathname === "/openapi.json") {
      const token = prompt("This server needs its API token (OAO_API_TOKEN):");
      if (token) {
        sessionStorage.setItem(KEY, token.trim());
        location.reload();
      }
    }
    return response;
  },
});
`;

/** The page's Content-Security-Policy: nothing from outside the server. */
const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

const assets = new Map<string, Promise<string>>();

function _asset(name: string): Promise<string> {
  let text = assets.get(name);
  if (!text) {
    text = (async () => {
      const { default: root } = await import("swagger-ui-dist/absolute-path.js") as {
        default: () => string;
      };
      return await Deno.readTextFile(`${root()}/${name}`);
    })();
    text.catch(() => assets.delete(name));
    assets.set(name, text);
  }
  return text.catch((error) => {
    throw new ApiError(
      503,
      "docs_unavailable",
      `The API reference's files cannot be read (${
        (error as Error).message
      }): is the swagger-ui-dist package cached and readable?`,
    );
  });
}

function _docsRoute(
  path: string,
  type: string,
  body: () => string | Promise<string>,
  cache: string,
): ApiRoute {
  return {
    spec: createRoute({
      method: "get",
      path,
      summary: "API reference",
      security: [],
      responses: { 200: { description: type, content: { [type]: { schema: z.string() } } } },
    }),
    public: true,
    undocumented: true,
    produces: [type],
    etag: true,
    async handle() {
      return new Response(await body(), {
        headers: {
          "content-type": `${type}; charset=utf-8`,
          "cache-control": cache,
          "content-security-policy": CSP,
        },
      });
    },
  };
}

/** `/docs` and its files. */
export const DOCS_ROUTES: readonly ApiRoute[] = [
  _docsRoute("/docs", "text/html", () => PAGE, "no-cache"),
  _docsRoute("/docs/init.js", "text/javascript", () => INIT, "no-cache"),
  _docsRoute(
    "/docs/swagger-ui-bundle.js",
    "text/javascript",
    () => _asset("swagger-ui-bundle.js"),
    "public, max-age=86400",
  ),
  _docsRoute(
    "/docs/swagger-ui.css",
    "text/css",
    () => _asset("swagger-ui.css"),
    "public, max-age=86400",
  ),
];
