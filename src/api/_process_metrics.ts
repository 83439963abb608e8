/**
 * prom-client's default process metrics (CPU, memory, file descriptors, event
 * loop delay, V8 heap), held once per process for every `OaoMetrics`.
 *
 * They describe the process, not one `OaoMetrics`, and `collectDefaultMetrics`
 * starts an event-loop delay monitor and a GC `PerformanceObserver` that
 * prom-client offers no way to stop: registering them per instance would leak
 * one monitor and one observer per `OaoMetrics`. So one registry holds them,
 * created on first use, and each `OaoMetrics` merges it into its output.
 *
 * In Deno 2.9 on Linux (checked by tests/api/metrics_test.ts) these have
 * values: `process_cpu_*`, `process_start_time_seconds`,
 * `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
 * `process_heap_bytes`, `process_open_fds`, `process_max_fds`,
 * `nodejs_heap_size_*`, `nodejs_heap_space_size_*`,
 * `nodejs_external_memory_bytes`, `nodejs_eventloop_lag_{min,max,mean,stddev,
 * p50,p90,p99}_seconds` (Deno implements `monitorEventLoopDelay`) and
 * `nodejs_version_info` (Deno's Node.js compatibility version).
 * `nodejs_eventloop_lag_seconds` is measured by a `setImmediate` after each
 * scrape, so it shows the previous scrape's lag (0 on the first);
 * `nodejs_active_resources` counts timers and immediates only.
 *
 * Not working in Deno: `nodejs_gc_duration_seconds` stays empty, as Deno's
 * `PerformanceObserver` never delivers "gc" entries (kept: it fills if Deno
 * does). `nodejs_active_handles` and `nodejs_active_requests` would always be
 * 0 (Deno's `process._getActiveHandles` and `_getActiveRequests` return
 * nothing): they are removed, and so is `nodejs_active_resources_total`, a
 * gauge whose `_total` suffix fails `promtool check metrics` (sum
 * `nodejs_active_resources` instead).
 *
 * @module
 */
import { collectDefaultMetrics, Registry } from "prom-client";

const UNFIT_DEFAULT_METRICS = [
  "nodejs_active_handles",
  "nodejs_active_handles_total",
  "nodejs_active_requests",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

let processMetrics: Registry | undefined;

/**
 * The registry of the process metrics, created on the first call.
 *
 * @returns The same registry on every call.
 */
export function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
    for (const name of UNFIT_DEFAULT_METRICS) processMetrics.removeSingleMetric(name);
  }
  return processMetrics;
}
