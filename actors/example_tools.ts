/**
 * The bundled example tools (they run in the orchestrator's process, not in
 * agent workers): deterministic stand-ins for a search engine, a web page
 * fetcher and a work-item processor, so the demo and the tests need no
 * network.
 *
 * @module
 */
import { defineTool, type ToolDefinition } from "../src/orchestrator/tool.ts";

/** `search({ query })` → three fake hits. Idempotent. */
export const search: ToolDefinition<{ query: string }, { url: string; title: string }[]> =
  defineTool({
    name: "search",
    description: "Searches the (simulated) web; returns three hits",
    idempotent: true,
    run: ({ query }) =>
      [1, 2, 3].map((i) => ({
        url: `https://example.org/${
          encodeURIComponent(query.toLowerCase().replaceAll(" ", "-"))
        }/${i}`,
        title: `${query} — result ${i}`,
      })),
  });

/** `fetch({ url })` → a fake page. Idempotent. */
export const fetchPage: ToolDefinition<{ url: string }, string> = defineTool({
  name: "fetch",
  description: "Fetches a (simulated) page; returns its text",
  idempotent: true,
  run: ({ url }) =>
    `Page ${url}: actors isolate failures; supervisors restart them from snapshots.`,
});

/** `process_item({ item })` → `{ item, ok: true }`. Idempotent. */
export const processItem: ToolDefinition<{ item: number }, { item: number; ok: boolean }> =
  defineTool({
    name: "process_item",
    description: "Processes one work item",
    idempotent: true,
    run: ({ item }) => ({ item, ok: true }),
  });

/** Every example tool. */
export const exampleTools: ToolDefinition<never, unknown>[] = [
  search as ToolDefinition<never, unknown>,
  fetchPage as ToolDefinition<never, unknown>,
  processItem as ToolDefinition<never, unknown>,
];
