/**
 * The OpenAPI 3.1 description of OAO's HTTP API, served at
 * `/openapi.json`: generated from the routes' definitions (the zod schemas
 * that also validate requests), with the server's URL, the license, the
 * bearer security scheme and the registered agents as the `agent` enum.
 *
 * @example
 * ```ts
 * import { openApiDocument } from "./openapi.ts";
 * import { API_ROUTES } from "./api_routes.ts";
 * const doc = openApiDocument(API_ROUTES, { agents: ["researcher"] });
 * console.assert(doc.openapi === "3.1.0" && "/executions" in doc.paths);
 * ```
 *
 * @module
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import denoJson from "../../deno.json" with { type: "json" };
import type { ApiRoute } from "./route.ts";

/** An OpenAPI document (the parts callers read). */
export interface OpenApiDocument extends Record<string, unknown> {
  /** OpenAPI version. */
  openapi: "3.1.0";
  /** Title, version, description, license. */
  info: Record<string, unknown>;
  /** Where the API is served. */
  servers: { url: string; description?: string }[];
  /** Operations by path and lower-case method. */
  paths: Record<string, Record<string, Record<string, unknown>>>;
  /** Schemas and security schemes. */
  components: Record<string, Record<string, Record<string, unknown>>>;
}

/** Options of {@linkcode openApiDocument}. */
export interface OpenApiOptions {
  /** Agent names `POST /executions` accepts (the `agent` field's enum). */
  agents?: readonly string[];
  /** The server's URL. @default {"http://127.0.0.1:8080"} */
  serverUrl?: string;
}

const bases = new WeakMap<readonly ApiRoute[], string>();

/**
 * Builds the document of a set of routes.
 *
 * @param routes The routes (those marked `undocumented` are left out).
 * @param options The agents and the server's URL.
 * @returns A fresh document (callers may change it).
 */
export function openApiDocument(
  routes: readonly ApiRoute[],
  options: OpenApiOptions = {},
): OpenApiDocument {
  let base = bases.get(routes);
  if (base === undefined) {
    base = JSON.stringify(_generate(routes));
    bases.set(routes, base);
  }
  const doc = JSON.parse(base) as OpenApiDocument;
  doc.servers = [{ url: options.serverUrl ?? "http://127.0.0.1:8080", description: "This server" }];
  const agent = (doc.components.schemas?.SubmitRequest?.properties as
    | Record<string, Record<string, unknown>>
    | undefined)?.agent;
  if (agent && options.agents?.length) agent.enum = [...options.agents];
  return doc;
}

function _generate(routes: readonly ApiRoute[]): Record<string, unknown> {
  const app = new OpenAPIHono();
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "The server's OAO_API_TOKEN",
  });
  for (const route of routes) if (!route.undocumented) app.openAPIRegistry.registerPath(route.spec);
  const doc = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "OAO — Open Agent Orchestrator",
      version: denoJson.version,
      license: { name: "MIT", url: "https://opensource.org/license/mit" },
      description:
        "Run agents as governed, audited, recoverable executions. Every route but /healthz and /readyz requires `Authorization: Bearer <OAO_API_TOKEN>` when the server has a token. Errors are JSON: { error: { code, message } }; every 503 carries Retry-After.",
    },
    servers: [{ url: "http://127.0.0.1:8080" }],
    security: [{ bearer: [] }],
  });
  return doc as unknown as Record<string, unknown>;
}
