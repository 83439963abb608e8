/**
 * Reads the standard OpenTelemetry environment variables that OAO honours
 * into an {@linkcode OtlpTraceConfig}. Pure parsing: nothing is imported
 * from the OpenTelemetry SDK here.
 *
 * | Variable | Meaning |
 * | --- | --- |
 * | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT` | OTLP/gRPC collector URL, e.g. `http://jaeger:4317`; tracing is off when neither is set |
 * | `OTEL_SERVICE_NAME` | `service.name` of the resource |
 * | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,…` resource attributes, percent-decoded |
 * | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS` | `key=value,…` gRPC metadata |
 * | `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` | export timeout, ms |
 * | `OTEL_EXPORTER_OTLP_COMPRESSION`, `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION` | `gzip` or `none` |
 * | `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` | only `grpc` is supported |
 * | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_EXPORT_TIMEOUT`, `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | batching ({@linkcode BatchConfig}; OAO's queue default is 524,288 spans) |
 * | `OTEL_SDK_DISABLED` (`true`), `OTEL_TRACES_EXPORTER` (`none`) | turn tracing off |
 *
 * Empty values count as unset. The `*_TRACES_*` variable wins over the
 * general one.
 *
 * @example
 * ```ts
 * import { parseOtelEnv } from "./otel_env.ts";
 * const config = parseOtelEnv({
 *   OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4317",
 *   OTEL_SERVICE_NAME: "oao-runtime",
 *   OTEL_RESOURCE_ATTRIBUTES: "env=production,version=1.1.0",
 * });
 * console.assert(config?.resource["service.name"] === "oao-runtime");
 * console.assert(config?.resource.env === "production");
 * console.assert(parseOtelEnv({}) === undefined);
 * ```
 *
 * @module
 */
import { parseKeyValueList } from "./_key_value_list.ts";
import { httpUrl } from "../http_url.ts";

/** Environment variables as a plain record (`Deno.env.toObject()` or a test fixture). */
export type Env = Record<string, string | undefined>;

/**
 * Batching of span export; unset fields take {@linkcode BATCH_DEFAULTS}.
 * Spans are exported `scheduledDelayMillis` after the first one is queued,
 * or at once when half of `maxQueueSize` spans are queued; when the queue is
 * full, new spans are dropped (and counted) rather than slowing actors down.
 */
export interface BatchConfig {
  /** Delay between two scheduled exports, ms. @default {1000} */
  scheduledDelayMillis?: number;
  /** How long one batch export may run, ms. @default {30000} */
  exportTimeoutMillis?: number;
  /** Spans queued before new ones are dropped. @default {524288} */
  maxQueueSize?: number;
  /** Spans per export request. @default {512} */
  maxExportBatchSize?: number;
}

/**
 * OAO's batching defaults: OpenTelemetry's, except a queue of 524,288 spans
 * instead of 2,048, since actors record a span per message, in bursts of
 * hundreds of thousands (a queued actor span takes about 40 bytes), and an
 * export every second instead of every 5 s, so that a process killed with
 * SIGKILL loses about a second of spans, not five (the batches are larger,
 * not more numerous, under load: half a queue exports at once either way).
 */
export const BATCH_DEFAULTS: Readonly<Required<BatchConfig>> = {
  scheduledDelayMillis: 1_000,
  exportTimeoutMillis: 30_000,
  maxQueueSize: 524_288,
  maxExportBatchSize: 512,
};

/** Where and how to export spans over OTLP/gRPC. */
export interface OtlpTraceConfig {
  /** Collector URL, `http://` (plaintext h2c) or `https://` (TLS). */
  endpoint: string;
  /** gRPC metadata sent with every export (lower-case keys). */
  headers: Record<string, string>;
  /** Resource attributes of every span, including `service.name`. */
  resource: Record<string, string>;
  /** Export timeout, ms. @default {10000} */
  timeoutMillis?: number;
  /** Payload compression. @default {"none"} */
  compression?: "gzip" | "none";
  /** Batch span processor settings. */
  batch: BatchConfig;
}

/** The `service.name` used when `OTEL_SERVICE_NAME` and the resource attributes give none. */
export const DEFAULT_SERVICE_NAME = "oao";

const TRUE_FALSE = new Set(["true", "false"]);

function _get(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** The traces-specific variable if set, else the general one, with the name that supplied it. */
function _pick(env: Env, suffix: string): [string, string] | undefined {
  for (const name of [`OTEL_EXPORTER_OTLP_TRACES_${suffix}`, `OTEL_EXPORTER_OTLP_${suffix}`]) {
    const value = _get(env, name);
    if (value !== undefined) return [name, value];
  }
  return undefined;
}

/** Hides `user:password@` in a URL quoted in an error message. */
function _safeUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, "$1***@");
}

function _endpoint(name: string, value: string): string {
  const url = httpUrl(value);
  if (!url || url.hostname === "") {
    throw new RangeError(
      `Invalid ${name} "${
        _safeUrl(value)
      }": expected an http:// or https:// URL such as "http://jaeger:4317"`,
    );
  }
  return value;
}

function _integer(env: Env, name: string, min: number): number | undefined {
  const value = _get(env, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new RangeError(`Invalid ${name} "${value}": expected an integer of at least ${min}`);
  }
  return n;
}

function _disabled(env: Env): boolean {
  const sdkDisabled = _get(env, "OTEL_SDK_DISABLED")?.toLowerCase();
  if (sdkDisabled !== undefined && !TRUE_FALSE.has(sdkDisabled)) {
    throw new RangeError(
      `Invalid OTEL_SDK_DISABLED "${sdkDisabled}": expected "true" or "false"`,
    );
  }
  if (sdkDisabled === "true") return true;
  const exporter = _get(env, "OTEL_TRACES_EXPORTER")?.toLowerCase();
  if (exporter !== undefined && exporter !== "otlp" && exporter !== "none") {
    throw new RangeError(
      `Invalid OTEL_TRACES_EXPORTER "${exporter}": OAO supports "otlp" and "none"`,
    );
  }
  return exporter === "none";
}

function _resource(env: Env): Record<string, string> {
  const raw = _get(env, "OTEL_RESOURCE_ATTRIBUTES");
  const attributes = raw ? parseKeyValueList(raw, "OTEL_RESOURCE_ATTRIBUTES") : {};
  const serviceName = _get(env, "OTEL_SERVICE_NAME") ?? attributes["service.name"] ??
    DEFAULT_SERVICE_NAME;
  return { ...attributes, "service.name": serviceName };
}

function _headers(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"]) {
    const raw = _get(env, name);
    if (!raw) continue;
    const pairs = parseKeyValueList(raw, name, { showValues: false });
    for (const [key, value] of Object.entries(pairs)) {
      const lower = key.toLowerCase();
      if (!/^[0-9a-z_.-]+$/.test(lower) || lower.startsWith("grpc-")) {
        throw new RangeError(
          `Invalid ${name}: "${key}" is not a usable gRPC metadata key (letters, digits, "-", "_", "." and no "grpc-" prefix)`,
        );
      }
      out[lower] = value;
    }
  }
  return out;
}

function _batch(env: Env): BatchConfig {
  const batch: BatchConfig = {};
  const delay = _integer(env, "OTEL_BSP_SCHEDULE_DELAY", 0);
  const timeout = _integer(env, "OTEL_BSP_EXPORT_TIMEOUT", 1);
  const queue = _integer(env, "OTEL_BSP_MAX_QUEUE_SIZE", 1);
  const size = _integer(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1);
  if (delay !== undefined) batch.scheduledDelayMillis = delay;
  if (timeout !== undefined) batch.exportTimeoutMillis = timeout;
  if (queue !== undefined) batch.maxQueueSize = queue;
  if (size !== undefined) {
    const max = queue ?? BATCH_DEFAULTS.maxQueueSize;
    if (size > max) {
      throw new RangeError(
        `Invalid OTEL_BSP_MAX_EXPORT_BATCH_SIZE "${size}": it exceeds the queue size ${max}`,
      );
    }
    batch.maxExportBatchSize = size;
  }
  return batch;
}

/**
 * Parses the OpenTelemetry variables into an export configuration.
 *
 * @param env The environment, e.g. `Deno.env.toObject()`.
 * @returns The configuration, or `undefined` when no endpoint is set or
 *   tracing is turned off.
 * @throws {RangeError} Naming the variable when a value is invalid (header
 *   values are never quoted).
 *
 * @example
 * ```ts
 * import { parseOtelEnv } from "./otel_env.ts";
 * const config = parseOtelEnv({
 *   OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4317",
 *   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://tempo:4317",
 * });
 * console.assert(config?.endpoint === "http://tempo:4317");
 * ```
 */
export function parseOtelEnv(env: Env): OtlpTraceConfig | undefined {
  if (_disabled(env)) return undefined;
  const resource = _resource(env);
  const headers = _headers(env);
  const batch = _batch(env);
  const protocol = _pick(env, "PROTOCOL");
  if (protocol && protocol[1] !== "grpc") {
    throw new RangeError(
      `Invalid ${protocol[0]} "${protocol[1]}": OAO exports traces over "grpc" only`,
    );
  }
  const compression = _pick(env, "COMPRESSION");
  if (compression && compression[1] !== "gzip" && compression[1] !== "none") {
    throw new RangeError(
      `Invalid ${compression[0]} "${compression[1]}": expected "gzip" or "none"`,
    );
  }
  const timeout = _pick(env, "TIMEOUT");
  const timeoutMillis = timeout && _integer({ [timeout[0]]: timeout[1] }, timeout[0], 1);
  const endpoint = _pick(env, "ENDPOINT");
  if (!endpoint) return undefined;
  const config: OtlpTraceConfig = {
    endpoint: _endpoint(endpoint[0], endpoint[1]),
    headers,
    resource,
    batch,
  };
  if (timeoutMillis) config.timeoutMillis = timeoutMillis;
  if (compression) config.compression = compression[1] as "gzip" | "none";
  return config;
}

/**
 * Reads the variables {@linkcode parseOtelEnv} understands from the process
 * environment, one by one (so `--allow-env=OTEL_…` lists suffice).
 *
 * @param get Reads one variable. @default {Deno.env.get}
 * @returns The variables that are set.
 * @throws {Deno.errors.NotCapable} When environment access is not granted.
 *
 * @example
 * ```ts
 * import { parseOtelEnv, readOtelEnv } from "./otel_env.ts";
 * const config = parseOtelEnv(readOtelEnv());
 * ```
 */
export function readOtelEnv(
  get: (name: string) => string | undefined = (n) => Deno.env.get(n),
): Env {
  const env: Env = {};
  for (const name of OTEL_ENV_NAMES) {
    const value = get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Every environment variable {@linkcode parseOtelEnv} reads. */
export const OTEL_ENV_NAMES: readonly string[] = [
  "OTEL_SDK_DISABLED",
  "OTEL_TRACES_EXPORTER",
  "OTEL_SERVICE_NAME",
  "OTEL_RESOURCE_ATTRIBUTES",
  "OTEL_BSP_SCHEDULE_DELAY",
  "OTEL_BSP_EXPORT_TIMEOUT",
  "OTEL_BSP_MAX_QUEUE_SIZE",
  "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
  ...["ENDPOINT", "HEADERS", "TIMEOUT", "COMPRESSION", "PROTOCOL"].flatMap((suffix) => [
    `OTEL_EXPORTER_OTLP_${suffix}`,
    `OTEL_EXPORTER_OTLP_TRACES_${suffix}`,
  ]),
];
