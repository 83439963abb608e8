# OAO — Open Agent Orchestrator. Runs `oao start` (HTTP API and executions in
# one process) by default; arguments after the image name replace the command:
#   docker run --rm oao demo          the demo (no Redis, no network)
#   docker run … oao serve            an API node        docker run … oao worker   a worker node
#
# Build:  docker build -t oao .
# Run:    docker run -p 8080:8080 -e REDIS_URL=redis://redis:6379/0 oao
# Probes: GET /healthz (liveness, also the HEALTHCHECK), GET /readyz (Redis reachable).
# Stop:   docker stop gives 10 s before SIGKILL; the shutdown grace is 8 s (see below).
FROM denoland/deno:2.9.6

# The application belongs to root and is read-only for the user that runs it
# (COPY without --chown); that user writes only to its Deno cache, /deno-dir
# (DENO_DIR), which holds the dependencies and the bundles built below.
WORKDIR /app
# The one folder of /app the user may write: the Deno KV file of the default
# store (./.oao/oao.kv), declared a volume below. uid 1993 is the base image's
# deno user.
USER root
RUN install -d -o 1993 -g 1993 .oao
USER deno

# Dependencies in their own layer: rebuilt only when deno.json or deno.lock change.
COPY deno.json deno.lock ./
RUN deno install --frozen

# Sources, then the module graph of the command line and of agent workers.
# actors/ holds the example agents, which the commands load from
# actors/examples.oao.json (`oao demo` needs them; OAO_EXAMPLES=false, or an
# image without actors/, runs without them).
COPY mod.ts ./
COPY src ./src
COPY actors ./actors
RUN deno cache --frozen src/cli/main.ts src/worker/actor_worker.ts actors/*.ts
# The worker runtime, bundled once into the bundle cache ($DENO_DIR/oao_bundles):
# containers read it instead of building it at their first spawn.
RUN deno task bundle
# The console served at /ui (Preact, bundled by deno bundle), into the same cache.
RUN deno task bundle:console

# Executions, event logs and the queue without REDIS_URL: keep them across
# containers with a volume (docker run -v oao-data:/app/.oao …).
VOLUME /app/.oao

# The deployment guide's variables. REDIS_URL, OTEL_EXPORTER_OTLP_ENDPOINT,
# OTEL_RESOURCE_ATTRIBUTES and OAO_API_TOKEN are set when the container is run:
# without REDIS_URL it runs on the Deno KV file of /app/.oao (and says so); without
# OTEL_EXPORTER_OTLP_ENDPOINT no traces are exported. OAO_LOG_LEVEL is left to
# each command's default (INFO for the servers, none for the demo).
# OAO_SHUTDOWN_GRACE_MS stays below docker stop's 10 s, so that running
# executions are cancelled and recorded before the SIGKILL: raise both together
# (docker stop -t, docker run --stop-timeout).
ENV OAO_HOST=0.0.0.0 \
    OAO_PORT=8080 \
    OAO_LOG_FORMAT=json \
    OAO_SHUTDOWN_GRACE_MS=8000 \
    OTEL_SERVICE_NAME=oao-runtime

EXPOSE 8080

# Liveness on 127.0.0.1:$OAO_PORT (the image has no curl: Deno's fetch).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["deno", "eval", "--no-config", "const r = await fetch(`http://127.0.0.1:${Deno.env.get('OAO_PORT') || 8080}/healthz`, { signal: AbortSignal.timeout(4000) }).catch(() => null); await r?.body?.cancel(); Deno.exit(r?.status === 200 ? 0 : 1);"]

# tini (in the base image) is PID 1 and forwards signals. The permissions are
# those of `deno task start`; SIGTERM stops it gracefully (no new requests,
# running executions get OAO_SHUTDOWN_GRACE_MS, traces are flushed).
ENTRYPOINT ["/tini", "--", "deno", "run", "--cached-only", "--unstable-worker-options", "--unstable-kv", "--allow-read", "--allow-write=./.oao", "--allow-env", "--allow-net", "--allow-sys", "--allow-run", "src/cli/main.ts"]
CMD ["start"]
