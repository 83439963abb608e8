/**
 * The OpenAPI 3.1 description of OAO's HTTP API, served at
 * `/openapi.json`. A test checks that its paths and methods are exactly
 * the router's routes.
 *
 * @example
 * ```ts
 * import { openApiDocument } from "./openapi.ts";
 * const doc = openApiDocument({ agents: ["researcher"] });
 * console.assert(doc.openapi === "3.1.0" && "/executions" in doc.paths);
 * ```
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };

/** An OpenAPI document (the parts this module fills). */
export interface OpenApiDocument {
  /** OpenAPI version. */
  openapi: "3.1.0";
  /** Title, version, description. */
  info: Record<string, unknown>;
  /** Operations by path and lower-case method. */
  paths: Record<string, Record<string, Record<string, unknown>>>;
  /** Schemas, responses, security schemes. */
  components: Record<string, unknown>;
  /** Default security (bearer). */
  security: Record<string, string[]>[];
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonContent = (schema: unknown) => ({ "application/json": { schema } });
const error = (description: string) => ({ description, content: jsonContent(ref("Error")) });
const idParam = {
  name: "id",
  in: "path",
  required: true,
  description: "Execution id",
  schema: { type: "string", pattern: "^[A-Za-z0-9_.-]{1,200}$" },
};
const common = {
  "400": error("Invalid id or parameter"),
  "401": error("Missing or wrong bearer token (when OAO_API_TOKEN is set)"),
};

/**
 * Builds the document.
 *
 * @param options `agents`: the agent names `POST /executions` accepts (an enum in the schema).
 * @returns The document.
 */
export function openApiDocument(options: { agents?: readonly string[] } = {}): OpenApiDocument {
  return {
    openapi: "3.1.0",
    info: {
      title: "OAO — Open Agent Orchestrator",
      version: denoJson.version,
      description:
        "Run agents as governed, audited, recoverable executions. Every route but /healthz and /readyz requires `Authorization: Bearer <OAO_API_TOKEN>` when the server has a token. Errors are JSON: { error: { code, message } }.",
    },
    security: [{ bearer: [] }],
    paths: {
      "/executions": {
        post: {
          summary: "Start an execution",
          operationId: "submitExecution",
          parameters: [
            {
              name: "Idempotency-Key",
              in: "header",
              required: false,
              description: "Same as the body's idempotencyKey",
              schema: { type: "string", minLength: 1, maxLength: 200 },
            },
            {
              name: "traceparent",
              in: "header",
              required: false,
              description: "W3C trace context of the caller; the execution's trace continues it",
              schema: { type: "string" },
            },
          ],
          requestBody: { required: true, content: jsonContent(ref("SubmitRequest")) },
          responses: {
            "202": {
              description: "Accepted: the execution is running (or queued for a worker)",
              headers: { Location: { schema: { type: "string" } } },
              content: jsonContent(ref("SubmitResponse")),
            },
            "400": error("Malformed JSON, wrong field types, unknown fields, invalid policy"),
            "401": common["401"],
            "413": error("Body larger than 1 MiB"),
            "415": error("Content type other than application/json"),
            "422": error("Unknown agent"),
          },
        },
      },
      "/executions/{id}": {
        get: {
          summary: "Status of an execution (for polling)",
          operationId: "getExecution",
          parameters: [idParam],
          responses: {
            "200": { description: "Status", content: jsonContent(ref("ExecutionStatus")) },
            ...common,
            "404": error("No such execution"),
          },
        },
      },
      "/executions/{id}/events": {
        get: {
          summary: "Timeline of an execution, in pages",
          operationId: "listEvents",
          parameters: [
            idParam,
            {
              name: "after",
              in: "query",
              required: false,
              description: "Only events with a greater sequence number",
              schema: { type: "integer", minimum: 0, default: 0 },
            },
            {
              name: "limit",
              in: "query",
              required: false,
              description: "At most this many events",
              schema: { type: "integer", minimum: 1, maximum: 1000, default: 1000 },
            },
          ],
          responses: {
            "200": { description: "Events", content: jsonContent(ref("EventsPage")) },
            ...common,
            "404": error("No such execution"),
          },
        },
      },
      "/executions/{id}/stream": {
        get: {
          summary: "Live events (Server-Sent Events)",
          description:
            "The backlog after Last-Event-ID (or ?after=), then live events as they are recorded. Each message has `id:` = the event's sequence number and `data:` = the event as JSON. After the execution's final event comes `event: end` with { executionId, status, seq }, and the stream closes. Comments (`: keep-alive`) are sent every 15 s.",
          operationId: "streamEvents",
          parameters: [
            idParam,
            {
              name: "Last-Event-ID",
              in: "header",
              required: false,
              description: "Resume after this sequence number",
              schema: { type: "integer", minimum: 0 },
            },
            {
              name: "after",
              in: "query",
              required: false,
              description: "Resume after this sequence number (when there is no Last-Event-ID)",
              schema: { type: "integer", minimum: 0, default: 0 },
            },
          ],
          responses: {
            "200": {
              description: "An event stream",
              content: { "text/event-stream": { schema: { type: "string" } } },
            },
            ...common,
            "404": error("No such execution"),
          },
        },
      },
      "/executions/{id}/cancel": {
        post: {
          summary: "Cancel an execution",
          operationId: "cancelExecution",
          parameters: [idParam],
          requestBody: {
            required: false,
            content: jsonContent({
              type: "object",
              additionalProperties: false,
              properties: { reason: { type: "string", maxLength: 500 } },
            }),
          },
          responses: {
            "202": {
              description: "Cancellation requested; the status becomes CANCELLED shortly",
              content: jsonContent({
                type: "object",
                required: ["executionId", "cancelRequested"],
                properties: {
                  executionId: { type: "string" },
                  cancelRequested: { const: true },
                },
              }),
            },
            ...common,
            "404": error("No such execution"),
            "409": error("Already finished, or not running in this process"),
            "413": error("Body larger than 1 MiB"),
            "415": error("Content type other than application/json"),
          },
        },
      },
      "/agents": {
        get: {
          summary: "Agents that can be requested",
          operationId: "listAgents",
          responses: {
            "200": {
              description: "Agent names and the backend mode",
              content: jsonContent({
                type: "object",
                required: ["agents", "mode"],
                properties: {
                  agents: { type: "array", items: { type: "string" } },
                  mode: { enum: ["local", "queue"] },
                },
              }),
            },
            "401": common["401"],
          },
        },
      },
      "/healthz": {
        get: {
          summary: "Liveness",
          operationId: "healthz",
          security: [],
          responses: {
            "200": {
              description: "The process is up",
              content: jsonContent({ type: "object", properties: { status: { const: "ok" } } }),
            },
          },
        },
      },
      "/readyz": {
        get: {
          summary: "Readiness: the stores (Redis) are reachable",
          operationId: "readyz",
          security: [],
          responses: {
            "200": {
              description: "Ready",
              content: jsonContent({ type: "object", properties: { status: { const: "ready" } } }),
            },
            "503": error("Redis unreachable, or shutting down"),
          },
        },
      },
      "/metrics": {
        get: {
          summary: "Prometheus metrics (text format 0.0.4)",
          operationId: "metrics",
          responses: {
            "200": {
              description: "Metrics",
              content: { "text/plain": { schema: { type: "string" } } },
            },
            "401": common["401"],
          },
        },
      },
      "/openapi.json": {
        get: {
          summary: "This document",
          operationId: "openapi",
          responses: {
            "200": { description: "OpenAPI 3.1", content: jsonContent({ type: "object" }) },
            "401": common["401"],
          },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: {
                code: {
                  type: "string",
                  examples: ["invalid_json", "unknown_agent", "execution_not_found"],
                },
                message: { type: "string" },
              },
            },
          },
        },
        Policy: {
          type: "object",
          additionalProperties: false,
          description: "Limits overriding the server's default policy",
          properties: {
            maxSteps: { type: "integer", minimum: 1 },
            maxTokens: { type: "integer", minimum: 1 },
            maxToolCalls: { type: "integer", minimum: 1 },
            timeoutMs: { type: "number", exclusiveMinimum: 0 },
            stepTimeoutMs: {
              type: "number",
              exclusiveMinimum: 0,
              description: "Time allowed for one attempt of one step, in ms (default 300000)",
            },
          },
        },
        SubmitRequest: {
          type: "object",
          required: ["agent", "task"],
          additionalProperties: false,
          properties: {
            agent: options.agents?.length
              ? { type: "string", enum: [...options.agents] }
              : { type: "string" },
            task: { description: "The task given to the agent (any JSON)" },
            policy: ref("Policy"),
            idempotencyKey: {
              type: "string",
              minLength: 1,
              maxLength: 200,
              description: "A repeated submit with the same key returns the first execution",
            },
          },
        },
        SubmitResponse: {
          type: "object",
          required: ["executionId", "status", "duplicate", "links"],
          properties: {
            executionId: { type: "string" },
            status: { enum: ["RUNNING", "QUEUED"] },
            duplicate: { type: "boolean" },
            links: {
              type: "object",
              properties: {
                status: { type: "string" },
                events: { type: "string" },
                stream: { type: "string" },
                cancel: { type: "string" },
              },
            },
          },
        },
        Totals: {
          type: "object",
          required: ["steps", "tokens", "toolCalls"],
          properties: {
            steps: { type: "integer" },
            tokens: { type: "integer" },
            toolCalls: { type: "integer" },
          },
        },
        ExecutionStatus: {
          type: "object",
          required: [
            "executionId",
            "status",
            "step",
            "iteration",
            "totals",
            "lastEventAt",
            "eventCount",
          ],
          properties: {
            executionId: { type: "string" },
            status: { enum: ["QUEUED", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"] },
            agent: { type: "string" },
            version: { type: "string" },
            state: {
              enum: ["INIT", "PLAN", "EXECUTE", "REVIEW", "TERMINATE", "FAILED"],
              description: "Lifecycle state of the last step entered",
            },
            step: { type: "integer" },
            iteration: { type: "integer" },
            totals: ref("Totals"),
            policy: ref("Policy"),
            task: {},
            executionHash: { type: "string" },
            startedAt: { type: "integer", description: "Epoch ms" },
            finishedAt: { type: "integer", description: "Epoch ms" },
            lastEventAt: { type: "integer", description: "Epoch ms" },
            eventCount: { type: "integer" },
            error: ref("ErrorInfo"),
            report: ref("ExecutionReport"),
          },
        },
        ErrorInfo: {
          type: "object",
          required: ["name", "message"],
          properties: {
            name: { type: "string" },
            message: { type: "string" },
            code: { type: "string" },
            stack: { type: "string" },
          },
        },
        ExecutionReport: {
          type: "object",
          required: [
            "executionId",
            "agent",
            "status",
            "totalSteps",
            "tokens",
            "toolCalls",
            "durationMs",
            "stateHistory",
            "executionHash",
            "startedAt",
            "finishedAt",
          ],
          properties: {
            executionId: { type: "string" },
            agent: { type: "string" },
            status: { enum: ["SUCCESS", "FAILED", "CANCELLED"] },
            totalSteps: { type: "integer" },
            tokens: { type: "integer" },
            toolCalls: { type: "integer" },
            durationMs: { type: "number" },
            stateHistory: {
              type: "array",
              items: {
                type: "object",
                properties: {
                  step: { type: "integer" },
                  state: { type: "string" },
                  at: { type: "integer" },
                },
              },
            },
            output: {},
            executionHash: { type: "string" },
            error: ref("ErrorInfo"),
            startedAt: { type: "integer" },
            finishedAt: { type: "integer" },
            traceId: { type: "string" },
          },
        },
        StoredEvent: {
          type: "object",
          required: ["executionId", "seq", "id", "time", "type"],
          properties: {
            executionId: { type: "string" },
            seq: { type: "integer", minimum: 1 },
            id: { type: "string" },
            time: { type: "integer", description: "Epoch ms" },
            type: {
              type: "string",
              examples: ["EXECUTION_STARTED", "STATE_ENTER", "TOOL_CALL", "RETRY_ATTEMPTED"],
            },
            step: { type: "integer" },
            data: { type: "object" },
            totals: ref("Totals"),
            traceId: { type: "string" },
            spanId: { type: "string" },
          },
        },
        EventsPage: {
          type: "object",
          required: ["executionId", "events", "nextAfter", "final"],
          properties: {
            executionId: { type: "string" },
            events: { type: "array", items: ref("StoredEvent") },
            nextAfter: { type: "integer", description: "Pass as ?after= for the next page" },
            final: {
              type: "boolean",
              description: "Whether this page holds the execution's final event",
            },
          },
        },
      },
    },
  };
}
