/**
 * The HTTP edge against an earlier one, in the same run: `oao start` of this
 * checkout and of a baseline commit (extracted with `git archive` into a
 * temporary directory) serve on loopback in turn, and `wrk` loads each with
 * the same requests:
 *
 * - `GET /executions/:id` of one finished execution (status polling);
 * - `POST /executions` with a fixed `Idempotency-Key` (parsing, validation
 *   and the duplicate path of a submit, without starting executions).
 *
 * Rounds alternate baseline and current so that drift of a noisy machine
 * touches both; the figure is each side's best round (the capacity the
 * server showed; on this 2-core VM single rounds vary by ±30 %, mostly
 * downwards, with wrk and the server sharing the cores).
 *
 * ```sh
 * deno run -A bench/http_bench.ts [--baseline <git ref>] [--seconds 5] [--rounds 5]
 * ```
 *
 * `--baseline no-front` measures the cost of the TCP front that times out
 * slow clients (`src/api/_connection_guard.ts`): the baseline is this
 * checkout with `OAO_HEADERS_TIMEOUT_MS=0`, serving `Deno.serve` directly.
 *
 * Needs `wrk` (Debian's package) and git.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { figure } from "./_figure.ts";
import { startOaoNode } from "./_oao_node.ts";

/** The last commit with the hand-written HTTP server (before the move to Hono). */
const DEFAULT_BASELINE = "b6b4bdc";
const ROOT = new URL("../", import.meta.url).pathname;

async function finishedExecution(url: string): Promise<string> {
  const response = await fetch(`${url}/executions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ agent: "researcher", task: { topic: "bench", sources: 1 } }),
  });
  const { executionId } = await response.json() as { executionId: string };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const status = await (await fetch(`${url}/executions/${executionId}`)).json() as {
      status: string;
    };
    if (status.status !== "RUNNING" && status.status !== "QUEUED") return executionId;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Execution ${executionId} did not finish in 30 s`);
}

async function wrk(url: string, seconds: number, script?: string): Promise<number> {
  const args = ["-t2", "-c32", `-d${seconds}s`, "--latency"];
  if (script) args.push("-s", script);
  const out = await new Deno.Command("wrk", { args: [...args, url], stdout: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  const match = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (!out.success || !match) throw new Error(`wrk failed:\n${text}`);
  if (/Non-2xx or 3xx responses/.test(text)) throw new Error(`wrk saw errors:\n${text}`);
  return Number(match[1]);
}

async function measure(
  tree: string,
  port: number,
  seconds: number,
  postScript: string,
  env: Record<string, string> = {},
): Promise<{ get: number; post: number }> {
  const server = await startOaoNode(tree, port, {
    env: { OAO_PASSIVATE_AFTER_MS: "off", ...env },
    flags: [
      "--unstable-worker-options",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-net",
      "--allow-sys",
      "--allow-run",
    ],
  });
  try {
    const id = await finishedExecution(server.url);
    await wrk(`${server.url}/executions/${id}`, 1); // warm-up
    const get = await wrk(`${server.url}/executions/${id}`, seconds);
    const post = await wrk(`${server.url}/executions`, seconds, postScript);
    return { get, post };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      baseline: { type: "string", default: DEFAULT_BASELINE },
      seconds: { type: "string", default: "5" },
      rounds: { type: "string", default: "5" },
    },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const work = await Deno.makeTempDir({ prefix: "oao-http-bench-" });
  try {
    const noFront = values.baseline === "no-front";
    const baseline = noFront ? ROOT : `${work}/baseline`;
    if (!noFront) {
      await Deno.mkdir(baseline);
      const archive = new Deno.Command("sh", {
        args: ["-c", `git -C "${ROOT}" archive "${values.baseline}" | tar -x -C "${baseline}"`],
      });
      if (!(await archive.output()).success) {
        throw new Error(`Cannot extract the baseline ${values.baseline}`);
      }
    }
    const postScript = `${work}/post.lua`;
    await Deno.writeTextFile(
      postScript,
      `wrk.method = "POST"
wrk.body = '{"agent":"researcher","task":{"topic":"bench","sources":1}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Idempotency-Key"] = "http-bench"
`,
    );
    const base = { get: [] as number[], post: [] as number[] };
    const current = { get: [] as number[], post: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      for (const [tree, into] of [[baseline, base], [ROOT, current]] as const) {
        const isBase = into === base;
        const result = await measure(
          tree,
          18_000 + round * 2 + (isBase ? 0 : 1),
          seconds,
          postScript,
          isBase && noFront ? { OAO_HEADERS_TIMEOUT_MS: "0" } : {},
        );
        into.get.push(result.get);
        into.post.push(result.post);
        console.error(
          `round ${round + 1} ${isBase ? "baseline" : "current "}: GET ${
            result.get.toFixed(0)
          } req/s, POST ${result.post.toFixed(0)} req/s`,
        );
      }
    }
    console.log(JSON.stringify(
      figure("http.get_execution.rps", Math.max(...current.get), "req/s", Math.max(...base.get)),
    ));
    console.log(JSON.stringify(
      figure(
        "http.submit_duplicate.rps",
        Math.max(...current.post),
        "req/s",
        Math.max(...base.post),
      ),
    ));
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

if (import.meta.main) await main();
