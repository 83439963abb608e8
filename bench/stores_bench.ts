/**
 * Benchmarks of the Redis stores against raw ioredis baselines measured in
 * the same run, on the same Redis (`REDIS_URL`, default
 * `redis://127.0.0.1:6379`), under a dedicated key prefix removed at the end.
 *
 * - `events.append.throughput` — events/s, many executions appending
 *   concurrently (one append in flight per execution) through
 *   `RedisEventStore.appendEvent`; baseline: one pipelined batch of raw
 *   `XADD`s of the same JSON payloads. Target ≥ 0.8.
 * - `events.append.latency_p50` — µs for one lone append; baseline: one raw
 *   `XADD` round trip. Target ≤ 1.3.
 * - `snapshot.save.throughput` — snapshots/s through
 *   `RedisPersistenceAdapter.save` (its batches on up to `writeConnections`
 *   connections, 4 by default: `--write-connections 1` measures one);
 *   baseline: pipelined raw `SET`s of the same bytes. Target ≥ 0.8.
 * - `snapshot.save_fenced.throughput` — the same with `version` and
 *   `fencingToken` (what an actor saves: its message sequence and its
 *   incarnation), against the same baseline. No target of its own: it shows
 *   what the version and fencing checks cost.
 *
 * Store and baseline rounds alternate, after 20 warm-up rounds (the store's
 * rounds, more code than a raw pipeline, kept getting faster until about the
 * 12th as V8 compiled them: with 3 warm-up rounds the snapshot figure
 * measured part of that warm-up, 0.71-0.81 against 0.92-0.96 with 20, same
 * machine, same hour); figures are medians. Before each timed round of a
 * throughput figure the heap is collected (`gc()`, so the script runs itself
 * again with `--expose-gc` when started without it): otherwise a round pays for the garbage the
 * round before it left, and on this 2-core machine that one collection
 * moved single rounds of either side by 2x (raw `SET` rounds from 54 k/s to
 * 206 k/s in one run). Run: `deno run -A bench/stores_bench.ts [--rounds 15]
 * [--warmup 20] [--executions 2000] [--samples 2000] [--write-connections 4]`.
 * The last four lines are JSON.
 *
 * @module
 */
import { type Figure, figure } from "./_figure.ts";
import { parseArgs } from "node:util";
import { RedisEventStore } from "../src/redis/redis_event_store.ts";
import { RedisPersistenceAdapter } from "../src/redis/redis_persistence_adapter.ts";

/** `gc()`, present when V8 runs with `--expose-gc`. */
const collect = (globalThis as { gc?: () => void }).gc;

async function main(): Promise<void> {
  if (!collect) {
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--expose-gc", import.meta.filename!, ...Deno.args],
    }).spawn().status;
    Deno.exit(code);
  }
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "15" },
      warmup: { type: "string", default: "20" },
      executions: { type: "string", default: "2000" },
      samples: { type: "string", default: "2000" },
      "write-connections": { type: "string" },
    },
  });
  const rounds = Number(values.rounds);
  const warmup = Number(values.warmup);
  const executions = Number(values.executions);
  const samples = Number(values.samples);
  const redisUrl = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
  const prefix = `oao-bench-${crypto.randomUUID()}:`;

  const { Redis } = await import("ioredis");
  const raw = new Redis(redisUrl, { lazyConnect: true });
  await raw.connect();
  const events = new RedisEventStore({ redisUrl, keyPrefix: `${prefix}s:` });
  const lanes = values["write-connections"];
  const snapshots = new RedisPersistenceAdapter({
    redisUrl,
    keyPrefix: `${prefix}s:`,
    ...(lanes === undefined ? {} : { writeConnections: Number(lanes) }),
  });
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
    const figures: Figure[] = [];

    // --- events.append.throughput: every execution has one append in flight ---
    const appendRates: number[] = [];
    const xaddRates: number[] = [];
    for (let round = 0; round < warmup + rounds; round++) {
      collect();
      let started = performance.now();
      await Promise.all(
        Array.from(
          { length: executions },
          (_, e) => events.appendEvent(`exec-${e}`, payload(e, round)),
        ),
      );
      const store = executions / ((performance.now() - started) / 1000);
      collect();
      const pipeline = raw.pipeline();
      started = performance.now();
      for (let e = 0; e < executions; e++) {
        pipeline.xadd(`${prefix}r:{exec-${e}}:events`, "*", "e", eventJson(e, round));
      }
      await pipeline.exec();
      const baseline = executions / ((performance.now() - started) / 1000);
      if (round >= warmup) {
        appendRates.push(store);
        xaddRates.push(baseline);
      }
    }
    figures.push(
      figure("events.append.throughput", median(appendRates), "events/s", median(xaddRates)),
    );

    // --- events.append.latency_p50: one lone append at a time ---
    const appendLatency: number[] = [];
    const xaddLatency: number[] = [];
    for (let i = 0; i < samples + 200; i++) {
      let started = performance.now();
      await events.appendEvent("latency", payload(1, i));
      const store = (performance.now() - started) * 1000;
      const json = eventJson(1, i);
      started = performance.now();
      await raw.xadd(`${prefix}r:{latency}:events`, "*", "e", json);
      const baseline = (performance.now() - started) * 1000;
      if (i >= 200) {
        appendLatency.push(store);
        xaddLatency.push(baseline);
      }
    }
    figures.push(
      figure("events.append.latency_p50", median(appendLatency), "µs", median(xaddLatency)),
    );

    // --- snapshot.save.throughput: every actor saves its next state ---
    const saveRates: number[] = [];
    const setRates: number[] = [];
    for (let round = 0; round < warmup + rounds; round++) {
      collect();
      let started = performance.now();
      await Promise.all(
        Array.from(
          { length: executions },
          (_, n) => snapshots.save(`exec-${n % 100}/actor-${n}`, payload(n, round)),
        ),
      );
      const store = executions / ((performance.now() - started) / 1000);
      collect();
      const pipeline = raw.pipeline();
      started = performance.now();
      for (let n = 0; n < executions; n++) {
        const key = `exec-${n % 100}/actor-${n}`;
        pipeline.set(`${prefix}r:{exec-${n % 100}}:snap:${key}`, JSON.stringify(payload(n, round)));
      }
      await pipeline.exec();
      const baseline = executions / ((performance.now() - started) / 1000);
      if (round >= warmup) {
        saveRates.push(store);
        setRates.push(baseline);
      }
    }
    figures.push(
      figure("snapshot.save.throughput", median(saveRates), "snapshots/s", median(setRates)),
    );

    // --- snapshot.save_fenced.throughput: every actor saves its next state, versioned and fenced ---
    const fencedRates: number[] = [];
    const fencedSetRates: number[] = [];
    for (let round = 0; round < warmup + rounds; round++) {
      collect();
      let started = performance.now();
      await Promise.all(
        Array.from(
          { length: executions },
          (_, n) =>
            snapshots.save(`exec-${n % 100}/fenced-${n}`, payload(n, round), {
              version: round + 1,
              fencingToken: 1,
            }),
        ),
      );
      const store = executions / ((performance.now() - started) / 1000);
      collect();
      const pipeline = raw.pipeline();
      started = performance.now();
      for (let n = 0; n < executions; n++) {
        const key = `exec-${n % 100}/fenced-${n}`;
        pipeline.set(`${prefix}r:{exec-${n % 100}}:snap:${key}`, JSON.stringify(payload(n, round)));
      }
      await pipeline.exec();
      const baseline = executions / ((performance.now() - started) / 1000);
      if (round >= warmup) {
        fencedRates.push(store);
        fencedSetRates.push(baseline);
      }
    }
    figures.push(
      figure(
        "snapshot.save_fenced.throughput",
        median(fencedRates),
        "snapshots/s",
        median(fencedSetRates),
      ),
    );

    console.log(
      `# medians of ${rounds} rounds (after ${warmup} warm-up rounds) of ${executions} concurrent operations; ${samples} latency samples`,
    );
    for (const f of figures) console.log(JSON.stringify(f));
  } finally {
    await events.close();
    await snapshots.close();
    let cursor = "0";
    do {
      const [next, keys] = await raw.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      await Promise.all(keys.map((key) => raw.unlink(key)));
    } while (cursor !== "0");
    raw.disconnect();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

if (import.meta.main) await main();
