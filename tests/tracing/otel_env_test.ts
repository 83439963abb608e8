import assert from "node:assert/strict";
import { DEFAULT_SERVICE_NAME, parseOtelEnv } from "../../src/tracing/otel_env.ts";

const ENDPOINT = "http://jaeger:4317";

Deno.test("the deployment guide's variables give the endpoint, service name and resource", () => {
  const config = parseOtelEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT,
    OTEL_SERVICE_NAME: "oao-runtime",
    OTEL_RESOURCE_ATTRIBUTES: "env=production,version=1.1.0",
  });
  assert.deepEqual(config, {
    endpoint: ENDPOINT,
    headers: {},
    resource: { env: "production", version: "1.1.0", "service.name": "oao-runtime" },
    batch: {},
  });
});

Deno.test("tracing is off without an endpoint, with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none", () => {
  assert.equal(parseOtelEnv({}), undefined);
  assert.equal(parseOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "  " }), undefined);
  assert.equal(
    parseOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_SDK_DISABLED: "TRUE" }),
    undefined,
  );
  assert.equal(
    parseOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_EXPORTER: "none" }),
    undefined,
  );
  assert.ok(parseOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_SDK_DISABLED: "false" }));
});

Deno.test("the traces-specific endpoint wins over the general one", () => {
  const config = parseOtelEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://tempo.example:4317",
  });
  assert.equal(config?.endpoint, "https://tempo.example:4317");
  assert.equal(
    parseOtelEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: ENDPOINT })?.endpoint,
    ENDPOINT,
  );
});

Deno.test("resource attributes are trimmed and percent-decoded, empty entries skipped", () => {
  const config = parseOtelEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT,
    OTEL_RESOURCE_ATTRIBUTES:
      " team = agents%2Cplatform , ,note=a%3Db%20c,deployment.environment=prod,",
  });
  assert.deepEqual(config?.resource, {
    team: "agents,platform",
    note: "a=b c",
    "deployment.environment": "prod",
    "service.name": DEFAULT_SERVICE_NAME,
  });
});

Deno.test("OTEL_SERVICE_NAME wins over service.name in the attributes, which wins over the default", () => {
  const attrs = "service.name=from-attributes";
  assert.equal(
    parseOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_RESOURCE_ATTRIBUTES: attrs })
      ?.resource["service.name"],
    "from-attributes",
  );
  assert.equal(
    parseOtelEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT,
      OTEL_RESOURCE_ATTRIBUTES: attrs,
      OTEL_SERVICE_NAME: "oao-runtime",
    })?.resource["service.name"],
    "oao-runtime",
  );
  assert.equal(
    parseOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT })?.resource["service.name"],
    "oao",
  );
});

Deno.test("invalid resource attributes are an error naming OTEL_RESOURCE_ATTRIBUTES", () => {
  for (const value of ["env", "=production", "env=%E0%A4%A", "a=1,broken"]) {
    assert.throws(
      () =>
        parseOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_RESOURCE_ATTRIBUTES: value }),
      (e: unknown) =>
        e instanceof RangeError && /^Invalid OTEL_RESOURCE_ATTRIBUTES: /.test(e.message),
      value,
    );
  }
});

Deno.test("invalid resource attributes are reported even when no endpoint is set", () => {
  assert.throws(
    () => parseOtelEnv({ OTEL_RESOURCE_ATTRIBUTES: "env" }),
    /OTEL_RESOURCE_ATTRIBUTES/,
  );
});

Deno.test("an endpoint that is not an http or https URL is an error naming the variable", () => {
  for (const value of ["jaeger:4317", "grpc://jaeger:4317", "not a url", "http://"]) {
    assert.throws(
      () => parseOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: value }),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message.startsWith("Invalid OTEL_EXPORTER_OTLP_ENDPOINT") &&
        e.message.includes("http://jaeger:4317"),
      value,
    );
  }
  assert.throws(
    () => parseOtelEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "tempo:4317" }),
    /^RangeError: Invalid OTEL_EXPORTER_OTLP_TRACES_ENDPOINT "tempo:4317"/,
  );
});

Deno.test("the error for an invalid endpoint does not repeat credentials from it", () => {
  assert.throws(
    () => parseOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://user:hunter2@collector:4317" }),
    (e: unknown) => e instanceof RangeError && !e.message.includes("hunter2"),
  );
});

Deno.test("headers are merged, lower-cased and decoded; traces headers win", () => {
  const config = parseOtelEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT,
    OTEL_EXPORTER_OTLP_HEADERS: "X-Api-Key=general,x-team=oao",
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-api-key=traces%20key",
  });
  assert.deepEqual(config?.headers, { "x-api-key": "traces key", "x-team": "oao" });
});

Deno.test("an invalid header entry is an error naming the variable without its value", () => {
  assert.throws(
    () =>
      parseOtelEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT,
        OTEL_EXPORTER_OTLP_HEADERS: "authorization=ok,Bearer-super-secret-value",
      }),
    (e: unknown) =>
      e instanceof RangeError && e.message.startsWith("Invalid OTEL_EXPORTER_OTLP_HEADERS") &&
      !e.message.includes("super-secret"),
  );
  assert.throws(
    () =>
      parseOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS: "a b=1" }),
    /OTEL_EXPORTER_OTLP_HEADERS: "a b" is not a usable gRPC metadata key/,
  );
});

Deno.test("timeout, compression and batch settings are parsed and validated", () => {
  const config = parseOtelEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT,
    OTEL_EXPORTER_OTLP_TIMEOUT: "5000",
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "2500",
    OTEL_EXPORTER_OTLP_COMPRESSION: "gzip",
    OTEL_BSP_SCHEDULE_DELAY: "0",
    OTEL_BSP_EXPORT_TIMEOUT: "1000",
    OTEL_BSP_MAX_QUEUE_SIZE: "100",
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "10",
  });
  assert.equal(config?.timeoutMillis, 2500);
  assert.equal(config?.compression, "gzip");
  assert.deepEqual(config?.batch, {
    scheduledDelayMillis: 0,
    exportTimeoutMillis: 1000,
    maxQueueSize: 100,
    maxExportBatchSize: 10,
  });
  const invalid: Record<string, string>[] = [
    { OTEL_EXPORTER_OTLP_TIMEOUT: "soon" },
    { OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "0" },
    { OTEL_EXPORTER_OTLP_COMPRESSION: "brotli" },
    { OTEL_BSP_SCHEDULE_DELAY: "-1" },
    { OTEL_BSP_MAX_QUEUE_SIZE: "1.5" },
    { OTEL_BSP_MAX_QUEUE_SIZE: "10", OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "20" },
    { OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" },
    { OTEL_SDK_DISABLED: "yes" },
    { OTEL_TRACES_EXPORTER: "zipkin" },
  ];
  for (const env of invalid) {
    const name = Object.keys(env).at(-1)!;
    assert.throws(
      () => parseOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, ...env }),
      (e: unknown) => e instanceof RangeError && e.message.includes(`Invalid ${name}`),
      JSON.stringify(env),
    );
  }
  assert.ok(
    parseOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }),
  );
});
