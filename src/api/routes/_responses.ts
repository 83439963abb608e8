/**
 * Response entries the routes' OpenAPI definitions share: the JSON error
 * answers by status, and JSON content of a schema.
 *
 * @module
 */
import type { z } from "@hono/zod-openapi";
import { ErrorSchema } from "../schemas.ts";

/**
 * JSON content of a schema.
 *
 * @param schema The schema.
 * @returns The `content` entry.
 */
export function jsonContent(schema: z.ZodType): { "application/json": { schema: z.ZodType } } {
  return { "application/json": { schema } };
}

/**
 * An error answer.
 *
 * @param description When it happens.
 * @returns The response entry (JSON error body).
 */
export function errorAnswer(
  description: string,
): { description: string; content: { "application/json": { schema: z.ZodType } } } {
  return { description, content: jsonContent(ErrorSchema) };
}

/** Answers of the edge that every route can give. */
export const EDGE_ANSWERS = {
  403: errorAnswer(
    "A request from another site that CORS does not allow, or for a host this server does not answer for",
  ),
  406: errorAnswer("The Accept header allows none of the route's media types"),
} as const;

/** Answers every authenticated route can give. */
export const AUTH_ANSWERS = {
  401: errorAnswer("Missing or wrong bearer token (when OAO_API_TOKEN is set)"),
  ...EDGE_ANSWERS,
} as const;

/** Answers of routes that read an execution by id. */
export const ID_ANSWERS = {
  400: errorAnswer("Invalid id or parameter"),
  ...AUTH_ANSWERS,
  404: errorAnswer("No such execution"),
  503: errorAnswer("The stores are unreachable (with Retry-After)"),
} as const;
