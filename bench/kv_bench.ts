/**
 * Benchmark of `KvEventStore` appends against raw Deno KV writes of the same
 * data, on one temporary file, in the same run.
 *
 * - `kv.events.append.throughput` — events/s, many executions appending
 *   concurrently (one append in flight per execution, as runners append)
 *   through `KvEventStore.appendEvent`; baseline: raw batched
 *   `atomic().set()`s of the same number of similar values — each event's
 *   JSON (with id and time, as the store builds it), keyed by execution and
 *   sequence number, with the same expiry — as many per commit as Deno KV
 *   allows (999), committed one after the other. Target ≥ 0.7.
 *
 * Store and baseline rounds alternate (which goes first alternates too),
 * after warm-up rounds; the figure is the ratio of the medians (the rates
 * over all rounds are printed too). Run: `deno run -A --unstable-kv
 * bench/kv_bench.ts [--rounds 20] [--warmup 4] [--executions 1000]`; without
 * `--unstable-kv` the script runs itself again with it. The last line is JSON.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { figure, median } from "./_figure.ts";
import { KvEventStore } from "../src/kv/kv_event_store.ts";
import { openKv } from "../src/kv/open_kv.ts";

const RETENTION_MS = 604_800_000;
/** Values per raw commit: Deno KV's 1,000 mutations, less one (as the store keeps for its clock). */
const RAW_BATCH = 999;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "20" },
      warmup: { type: "string", default: "4" },
      executions: { type: "string", default: "1000" },
    },
  });
  const rounds = Number(values.rounds);
  const warmup = Number(values.warmup);
  const executions = Number(values.executions);
  const dir = await Deno.makeTempDir({ prefix: "oao-kv-bench-" });
  const path = `${dir}/bench.kv`;
  const db = await openKv(path);
  const store = new KvEventStore({ path });
  const encoder = new TextEncoder();
  const payload = (e: number, i: number) => ({
    type: "TOOL_CALL",
    step: i,
    data: { tool: "search", args: { query: `question ${e}-${i}`, limit: 10 } },
    totals: { steps: i, tokens: 100 * i, toolCalls: i },
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
  });
  // What the store writes for an event, built the same way for the baseline.
  const eventJson = (e: number, i: number) =>
    JSON.stringify({ id: crypto.randomUUID(), time: Date.now(), ...payload(e, i) });

  try {
    const storeMs: number[] = [];
    const rawMs: number[] = [];
    for (let round = 0; round < warmup + rounds; round++) {
      const runStore = async () => {
        const started = performance.now();
        await Promise.all(
          Array.from(
            { length: executions },
            (_, e) => store.appendEvent(`exec-${e}`, payload(e, round)),
          ),
        );
        return performance.now() - started;
      };
      const runRaw = async () => {
        const started = performance.now();
        let atomic = db.kv.atomic();
        let count = 0, bytes = 0;
        for (let e = 0; e < executions; e++) {
          const json = eventJson(e, round);
          atomic.set(["raw", "e", `exec-${e}`, 1, round + 1], json, { expireIn: 2 * RETENTION_MS });
          bytes += encoder.encode(json).length + 40;
          if (++count === RAW_BATCH || bytes > 700_000) {
            await atomic.commit();
            atomic = db.kv.atomic();
            count = 0;
            bytes = 0;
          }
        }
        if (count > 0) await atomic.commit();
        return performance.now() - started;
      };
      const [first, second] = round % 2 === 0 ? [runStore, runRaw] : [runRaw, runStore];
      const a = await first();
      const b = await second();
      if (round < warmup) continue;
      storeMs.push(first === runStore ? a : b);
      rawMs.push(first === runStore ? b : a);
    }
    const sum = (values: number[]) => values.reduce((total, v) => total + v, 0);
    const rate = (ms: number) => executions / (ms / 1000);
    const result = figure(
      "kv.events.append.throughput",
      rate(median(storeMs)),
      "events/s",
      rate(median(rawMs)),
    );
    console.log(
      `# ${rounds} rounds (after ${warmup} warm-up rounds) of ${executions} concurrent appends, ` +
        `one per execution; medians below; over all rounds: store ${
          Math.round(rate(sum(storeMs) / rounds))
        } events/s, raw ${Math.round(rate(sum(rawMs) / rounds))} sets/s`,
    );
    console.log(JSON.stringify(result));
  } finally {
    await store.close();
    db.release();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs this script again with `--unstable-kv` (as `bench/run_all.ts` runs scripts without it). */
async function rerunWithKv(): Promise<number> {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", new URL(import.meta.url).pathname, ...Deno.args],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return code;
}

if (import.meta.main) {
  if (typeof Deno.openKv === "function") await main();
  else Deno.exit(await rerunWithKv());
}
