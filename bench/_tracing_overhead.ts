/**
 * The `tracing.overhead` measurement of `bench/actor_throughput_bench.ts`:
 * tell throughput (msg/s, one way between two actors in different workers,
 * `actors/throughput_source.ts` → `actors/throughput_sink.ts`, stateless) of
 * an actor system whose tracer is enabled — every message handled gets its
 * `oao.actor.receive` span, shipped to the host and exported over OTLP/gRPC
 * to a receiver on a loopback port — against the same figure with tracing
 * off, in the same run with the same message shape. Rounds alternate after
 * warm-up rounds; figures are medians.
 *
 * With OAO's default batching, the spans of a round (up to half the export
 * queue, 262,144 spans) wait in the queue and are exported after it; the
 * exporter is flushed after each traced round (not timed, so that a round's
 * export work does not slow the next round) and the flush time is reported.
 * So is every span the exporter dropped (a full queue, a failed export,
 * invalid data). Prints nothing.
 *
 * @module
 */
import http2 from "node:http2";
import { ActorSystem } from "../src/actor/actor_system.ts";
import type { BatchConfig } from "../src/tracing/otel_env.ts";
import type { OtlpSpanSink } from "../src/tracing/otlp_sink.ts";
import { createTracingFromEnv } from "../src/tracing/tracing_from_env.ts";
import { median } from "./_figure.ts";
import { spawnTellPair, tellRound } from "./_tell_pair.ts";

/** Options of {@linkcode measureTracingOverhead}. */
export interface TracingOverheadOptions {
  /** Messages per round. @default {200000} */
  messages?: number;
  /** Measured rounds of each side. @default {7} */
  rounds?: number;
  /** Warm-up rounds of each side before them. @default {2} */
  warmup?: number;
  /** Batching of the exporter (`OTEL_BSP_*`). @default {OAO's defaults} */
  batch?: BatchConfig;
}

/** What {@linkcode measureTracingOverhead} measured. */
export interface TracingOverhead {
  /** Median tell throughput with tracing on, msg/s. */
  on: number;
  /** Median tell throughput with tracing off, msg/s. */
  off: number;
  /** Spans recorded in the measured traced rounds (one per message handled). */
  spans: number;
  /** Of those, spans the exporter dropped: queue full, export failed, or invalid. */
  dropped: number;
  /** Median time to export a traced round's spans after the round, ms (not part of `on`). */
  flushMs: number;
  /** Median process CPU time per message in the traced rounds, µs (all threads). */
  cpuOn: number;
  /** Median process CPU time per message in the untraced rounds, µs (all threads). */
  cpuOff: number;
}

/**
 * Measures tell throughput with tracing on against tracing off.
 *
 * @param options Messages per round, rounds, warm-up rounds, batching.
 * @returns Median throughputs and CPU times, spans recorded and dropped, flush time.
 * @throws {Error} When a sink counts a different number of messages than were sent.
 *
 * @example
 * ```ts ignore
 * import { measureTracingOverhead } from "./_tracing_overhead.ts";
 * const { on, off, dropped } = await measureTracingOverhead({ messages: 50_000, rounds: 3 });
 * console.log(on / off, dropped);
 * ```
 */
export async function measureTracingOverhead(
  options: TracingOverheadOptions = {},
): Promise<TracingOverhead> {
  const n = options.messages ?? 200_000;
  const rounds = options.rounds ?? 7;
  const warmup = options.warmup ?? 2;
  const receiver = await _startNullReceiver();
  const tracing = await createTracingFromEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_SERVICE_NAME: "oao-bench",
    ..._batchEnv(options.batch ?? {}),
  }, { onError: () => {} });
  const sink = tracing.sink as OtlpSpanSink;
  const dropped = () => sink.queueDroppedSpans + sink.failedSpans + sink.droppedSpans;
  const traced = new ActorSystem({ name: "bench-tracing-on", tracer: tracing.tracer });
  const plain = new ActorSystem({ name: "bench-tracing-off" });
  try {
    const on = await spawnTellPair(traced);
    const off = await spawnTellPair(plain);
    const rates: [number[], number[]] = [[], []];
    const cpu: [number[], number[]] = [[], []];
    const flushMs: number[] = [];
    let droppedBefore = 0;
    for (let round = 0; round < warmup + rounds; round++) {
      if (round === warmup) droppedBefore = dropped();
      const a = await tellRound(on, n);
      const flushStarted = performance.now();
      await tracing.flush();
      const f = performance.now() - flushStarted;
      const b = await tellRound(off, n);
      if (round < warmup) continue;
      rates[0].push(a.rate);
      rates[1].push(b.rate);
      cpu[0].push(a.cpuUs);
      cpu[1].push(b.cpuUs);
      flushMs.push(f);
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // the last round's last spans
    await tracing.flush();
    return {
      on: median(rates[0]),
      off: median(rates[1]),
      spans: rounds * (n + 2), // every `add`, plus the source's `run` and the sink's `count`
      dropped: dropped() - droppedBefore,
      flushMs: median(flushMs),
      cpuOn: median(cpu[0]),
      cpuOff: median(cpu[1]),
    };
  } finally {
    await traced.shutdown();
    await plain.shutdown();
    await tracing.shutdown();
    await receiver.close();
  }
}

function _batchEnv(batch: BatchConfig): Record<string, string> {
  const env: Record<string, string> = {};
  if (batch.maxQueueSize !== undefined) env.OTEL_BSP_MAX_QUEUE_SIZE = `${batch.maxQueueSize}`;
  if (batch.maxExportBatchSize !== undefined) {
    env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE = `${batch.maxExportBatchSize}`;
  }
  if (batch.scheduledDelayMillis !== undefined) {
    env.OTEL_BSP_SCHEDULE_DELAY = `${batch.scheduledDelayMillis}`;
  }
  if (batch.exportTimeoutMillis !== undefined) {
    env.OTEL_BSP_EXPORT_TIMEOUT = `${batch.exportTimeoutMillis}`;
  }
  return env;
}

/**
 * A local OTLP/gRPC endpoint that accepts every export and keeps nothing,
 * as a collector on the same machine would (the test receiver decodes and
 * keeps every span, which would measure itself).
 */
async function _startNullReceiver(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", () => {});
  });
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    stream.on("error", () => {});
    stream.on("data", () => {});
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
        waitForTrailers: true,
      });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(new Uint8Array([0, 0, 0, 0, 0]));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close() {
      for (const session of sessions) session.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
