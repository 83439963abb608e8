/**
 * The {@linkcode ExecutionBackend} of the monolithic deployment (`oao
 * start`): executions run in this process, on an in-process
 * {@linkcode Orchestrator}. A submit resolves once the execution's
 * `EXECUTION_STARTED` event is stored, so that a status poll right after
 * the answer finds it. Idempotency keys are remembered for a day in the
 * orchestrator's persistence (Redis when configured), with a conditional
 * write, so two submits with one key start one execution.
 *
 * @example
 * ```ts
 * import { LocalBackend } from "./local_backend.ts";
 * import { Orchestrator } from "./orchestrator.ts";
 * import { exampleTools } from "../../actors/example_tools.ts";
 *
 * const orchestrator = new Orchestrator({
 *   tools: exampleTools,
 *   agents: [{ name: "runaway", module: new URL("../../actors/runaway_agent.ts", import.meta.url) }],
 * });
 * const backend = new LocalBackend(orchestrator);
 * const { executionId } = await backend.submit({ agent: "runaway", task: {}, policy: { maxToolCalls: 1 } });
 * console.assert(executionId.startsWith("exec-"));
 * await backend.close();
 * ```
 *
 * @module
 */
import {
  type AgentDetails,
  BackendBusyError,
  type ExecutionBackend,
  IdempotencyKeyReusedError,
  type SubmitRequest,
  type SubmitResult,
} from "./execution_backend.ts";
import { CANCEL_KEY, CANCEL_REQUESTED, EXECUTION_QUEUED } from "./_queue_markers.ts";
import { indexEntry } from "./_index_entries.ts";
import { CLAIM_RETRY_ATTEMPTS, CLAIM_RETRY_MARGIN_MS } from "./_ownership.ts";
import type { Decision, ExecutionReport } from "./execution_report.ts";
import { ExecutionBusyError, StaleVersionError, StoreUnavailableError } from "../errors.ts";
import { getOaoLogger } from "../logging/logger.ts";
import { canonicalJson, sha256Hex } from "./canonical_json.ts";
import { assertClientIdempotencyKey } from "../queue/_reserved_keys.ts";
import { newExecutionId, type Orchestrator, type StartedExecution } from "./orchestrator.ts";

/** What an idempotency key holds: its execution, the request's fingerprint, the node that reserved it. */
interface Reservation {
  executionId: string;
  fingerprint?: string;
  node?: string;
}

/**
 * How long a reservation of another node may stay without execution before
 * a submit of its key takes it over (ms): longer than any submit takes to
 * record its execution, retries of an unreachable store included.
 */
const ABANDONED_AFTER_MS = 5 * 60_000;

/**
 * An execution that failed because the store was unreachable may not have
 * stored its failure: its log still says RUNNING and nothing runs it. It is
 * taken back (resumed from its log, which runs nothing when the failure was
 * stored) this long after, and again at this pace while the store stays
 * unreachable, at most RETAKE_ATTEMPTS times (5 minutes).
 */
const RETAKE_AFTER_MS = 5_000;
const RETAKE_ATTEMPTS = 60;

/** Options of {@linkcode LocalBackend}. */
export interface LocalBackendOptions {
  /** How long an idempotency key is remembered, in seconds. @default {86400} */
  idempotencyTtlSeconds?: number;
  /**
   * Executions this backend runs at once; more wait in line (status
   * `QUEUED`) and start as others finish. @default {defaultMaxRunning()}
   */
  maxRunning?: number;
  /**
   * Executions that may wait in line; a submit beyond is refused with
   * {@linkcode BackendBusyError} (HTTP 429). @default {DEFAULT_MAX_QUEUED}
   */
  maxQueued?: number;
}

/**
 * Upper bound of {@linkcode defaultMaxRunning}. A waiting
 * execution costs about 70 KiB once passivated and a pooled actor about
 * 10 KiB (bench/density_bench.ts); executions that run steps at once share
 * the node's cores, so the bound is about time to a step, not memory.
 */
export const DEFAULT_MAX_RUNNING = 1000;

/**
 * The default of {@linkcode LocalBackendOptions.maxRunning} for a machine:
 * as many executions as 4 MiB each fit in half its memory, between 16 and
 * {@linkcode DEFAULT_MAX_RUNNING}. Measured (bench/overload_bench.ts, 50
 * clients for 20 s): 1,000 running executions peaked at 901 MiB of RSS for
 * the whole node, under 1 MiB each; 4 MiB leaves room for steps that hold
 * large values. 24 GiB gives 1,000; 1 GiB, 128; 512 MiB, 64.
 *
 * @param totalMemoryBytes The machine's (or container's) memory.
 *   @default {Deno.systemMemoryInfo().total, or unknown without the `sys` permission}
 * @returns The number of executions to run at once.
 *
 * @example
 * ```ts
 * import { defaultMaxRunning } from "./local_backend.ts";
 * console.assert(defaultMaxRunning(1024 ** 3) === 128);
 * ```
 */
export function defaultMaxRunning(totalMemoryBytes: number = systemMemoryBytes()): number {
  if (!(totalMemoryBytes > 0)) return DEFAULT_MAX_RUNNING;
  const fit = Math.floor(totalMemoryBytes / 2 / (4 * 1024 ** 2));
  return Math.max(16, Math.min(DEFAULT_MAX_RUNNING, fit));
}

function systemMemoryBytes(): number {
  try {
    return Deno.systemMemoryInfo().total;
  } catch {
    return 0; // no `sys` permission: unknown
  }
}

/** Default of {@linkcode LocalBackendOptions.maxQueued}. */
export const DEFAULT_MAX_QUEUED = 10_000;

interface Waiting {
  executionId: string;
  request: SubmitRequest;
  /**
   * Taken over from a process that died running it, or taken back after the
   * store was unreachable (`retake`: the how-manyth time): resumed, not started.
   */
  adopted?: { attempts: number; retake?: number };
}

/** Runs executions on an orchestrator in this process. */
export class LocalBackend implements ExecutionBackend {
  /** Always `"local"`. */
  readonly mode = "local" as const;
  readonly #orchestrator: Orchestrator;
  readonly #ttl: number;
  // This node, in the idempotency reservations it writes; and the executions
  // whose submit is between its reservation and its first event.
  readonly #node = crypto.randomUUID();
  readonly #submitting = new Set<string>();
  readonly #maxRunning: number;
  readonly #maxQueued: number;
  readonly #waiting: Waiting[] = [];
  // Workflow tasks waiting for a place (they were admitted with their workflow).
  readonly #slotWaiters: (() => void)[] = [];
  #active = 0;
  readonly #activeByAgent = new Map<string, number>();
  readonly #adoptTimers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
  readonly #log = getOaoLogger("api");

  /**
   * Creates the backend.
   *
   * @param orchestrator The orchestrator executions run on (closed by {@linkcode LocalBackend.close}).
   * @param options Idempotency-key retention.
   * @throws {RangeError} When `idempotencyTtlSeconds` is not a positive integer.
   */
  constructor(orchestrator: Orchestrator, options: LocalBackendOptions = {}) {
    this.#orchestrator = orchestrator;
    this.#ttl = options.idempotencyTtlSeconds ?? 86_400;
    if (!Number.isInteger(this.#ttl) || this.#ttl < 1) {
      throw new RangeError(
        `Invalid idempotencyTtlSeconds ${JSON.stringify(this.#ttl)}: expected a positive integer`,
      );
    }
    this.#maxRunning = _positive(options.maxRunning ?? defaultMaxRunning(), "maxRunning");
    this.#maxQueued = _positive(options.maxQueued ?? DEFAULT_MAX_QUEUED, "maxQueued", 0);
  }

  /** Executions waiting in line for a place. */
  get queued(): number {
    return this.#waiting.length;
  }

  /**
   * The tools agents may call.
   *
   * @returns Their names and descriptions.
   */
  tools(): { name: string; description?: string }[] {
    return this.#orchestrator.tools.map((t) =>
      t.description ? { name: t.name, description: t.description } : { name: t.name }
    );
  }

  /**
   * Names of the registered agents.
   *
   * @returns The names.
   */
  agents(): string[] {
    return this.#orchestrator.agents.map((a) => a.name);
  }

  /**
   * The registered agents in detail.
   *
   * @returns Name, version, description, tools, peers, permissions, isolation, limit.
   */
  agentDetails(): AgentDetails[] {
    return this.#orchestrator.agents.map((a) => ({
      name: a.name,
      ...(a.version === undefined ? {} : { version: a.version }),
      ...(a.description === undefined ? {} : { description: a.description }),
      ...(a.tools === undefined ? {} : { tools: [...a.tools] }),
      ...(a.peers === undefined ? {} : { peers: [...a.peers] }),
      permissions: a.permissions ?? "none",
      ...(a.isolation === undefined ? {} : { isolation: a.isolation }),
      ...(a.maxRunning === undefined ? {} : { maxRunning: a.maxRunning }),
    }));
  }

  /**
   * Starts an execution; resolves once its start is recorded.
   *
   * @param request Agent, task, policy overrides, idempotency key, trace parent.
   * @returns The execution id, and whether the idempotency key matched an earlier submit.
   * @throws {UnknownAgentError} When the agent is not registered.
   * @throws {RangeError} When a policy override is invalid.
   * @throws {TypeError} When the task is not JSON, or the idempotency key
   *   starts with a prefix the runtime's own jobs use (`oao-continue:`,
   *   `migrated:`), refused here as on an API node.
   * @throws {StoreUnavailableError} When the execution's start could not be
   *   stored: nothing was accepted (a key it reserved and could not give
   *   back is taken over by the next submit of the key).
   */
  async submit(request: SubmitRequest): Promise<SubmitResult> {
    this.#orchestrator.resolveAgent(request.agent);
    assertClientIdempotencyKey(request.idempotencyKey);
    let executionId = newExecutionId();
    let release = () => Promise.resolve();
    // In progress until it started, queued or failed: a reservation of it is not abandoned.
    this.#submitting.add(executionId);
    try {
      if (request.idempotencyKey !== undefined) {
        const reserved = await this.#reserve(request, executionId);
        if ("duplicate" in reserved) return reserved.duplicate;
        release = reserved.release;
      }
      // With room on the node, whatever waits is held by its agent's own
      // limit (#drain starts the rest as soon as room frees): not passed by this.
      if (this.#active < this.#maxRunning && this.#agentHasRoom(request.agent)) {
        executionId = await this.#start(executionId, request);
        return { executionId, duplicate: false };
      }
      if (this.#waiting.length >= this.#maxQueued) throw this.#busy();
      const queuedAt = Date.now();
      await this.#orchestrator.eventStore.appendEvent(executionId, {
        type: EXECUTION_QUEUED,
        time: queuedAt,
        data: {
          agent: request.agent,
          task: request.task,
          ...(request.policy ? { policy: request.policy } : {}),
          local: true, // in this node's line, not a job queue's: see recover()
        },
      }, {
        index: {
          ...indexEntry(EXECUTION_QUEUED, { agent: request.agent, createdAt: queuedAt })!,
          initial: true,
        },
      });
      this.#waiting.push({ executionId, request });
      return { executionId, duplicate: false, queued: true };
    } catch (error) {
      // Only an accepted submit keeps its key: a refused one may be sent again.
      // (A release that fails, the store being down, leaves a reservation
      // without execution, which the next submit of the key takes over.)
      await release().catch(() => {});
      throw error;
    } finally {
      this.#submitting.delete(executionId);
    }
  }

  /**
   * Takes back into line the executions a node on the same stores accepted
   * and queued but stopped before starting (killed, crashed): their last
   * event is this backend's EXECUTION_QUEUED. Call it once at start, before
   * serving; with in-memory stores there is nothing to find.
   *
   * @param limit How many of the most recently written executions to look at.
   * @returns How many were taken back.
   */
  async recover(limit = 10_000): Promise<number> {
    const store = this.#orchestrator.eventStore;
    const ids = await store.listExecutions(limit);
    const found: Waiting[] = [];
    for (let at = 0; at < ids.length; at += 100) {
      const latest = await Promise.all(ids.slice(at, at + 100).map((id) => store.latest(id)));
      for (const event of latest) {
        const data = event?.data as (SubmitRequest & { local?: unknown }) | undefined;
        if (event?.type !== EXECUTION_QUEUED || data?.local !== true) continue;
        const request: SubmitRequest = { agent: String(data.agent), task: data.task };
        if (data.policy) request.policy = data.policy;
        found.push({ executionId: event.executionId, request });
      }
    }
    const known = new Set(this.#waiting.map((w) => w.executionId));
    // Most recently written first: back into line oldest first.
    for (const waiting of found.reverse()) {
      if (!known.has(waiting.executionId)) this.#waiting.push(waiting);
    }
    this.#drain();
    return found.length;
  }

  /**
   * Takes over the executions that a process on the same stores was running
   * when it died (killed, crashed, its machine restarted): the index says
   * RUNNING — waits for a signal or a timer included, whose due times then
   * fire here — and no live runner holds them. Each goes through the same
   * line as new submits (so `maxRunning` holds) and is resumed from its log:
   * at once when its dead runner ran on this machine (its pid is gone), else
   * once that runner's claim has lapsed (at most the claim's time to live
   * after the death). An execution whose runner keeps renewing its
   * claim is alive elsewhere and left to it; one this node cannot resume
   * (its agent is not registered here, its specification changed) is logged
   * and left as it is. Call it once at start; with in-memory stores there is
   * nothing to find.
   *
   * @param limit How many of the most recently updated running executions to look at.
   * @returns How many were found.
   */
  async adoptOrphans(limit = 1_000): Promise<number> {
    const store = this.#orchestrator.eventStore;
    const found: Waiting[] = [];
    const here = new Set(this.#orchestrator.running);
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.queryExecutions({
        status: ["RUNNING"],
        limit: Math.min(500, limit - found.length),
        ...(cursor ? { cursor } : {}),
      });
      for (const entry of page.executions) {
        if (here.has(entry.executionId)) continue;
        found.push({
          executionId: entry.executionId,
          request: { agent: entry.agent, task: null },
          adopted: { attempts: 0 },
        });
      }
      cursor = page.nextCursor;
    } while (cursor && found.length < limit && ++pages < 100);
    const known = new Set(this.#waiting.map((w) => w.executionId));
    for (const orphan of found.reverse()) {
      if (!known.has(orphan.executionId)) this.#waiting.push(orphan);
    }
    this.#drain();
    return found.length;
  }

  /**
   * Sends a signal to an execution ({@linkcode Orchestrator.signal}): one
   * running in this process is woken here, without a round through the stores.
   *
   * @returns The sequence number of its SIGNAL_RECEIVED event.
   */
  signal(executionId: string, name: string, payload: unknown): Promise<number> {
    return this.#orchestrator.signal(executionId, name, payload);
  }

  /**
   * Cancels an execution running in this process.
   *
   * @param executionId The execution.
   * @param reason Recorded with the cancellation.
   * @returns `false` when it is not running here.
   */
  async cancel(executionId: string, reason?: string): Promise<boolean> {
    // (An adopted orphan started long ago: it is cancelled once it runs here.)
    const at = this.#waiting.findIndex((w) => w.executionId === executionId && !w.adopted);
    if (at < 0) return this.#orchestrator.cancel(executionId, reason);
    const [waiting] = this.#waiting.splice(at, 1);
    const time = Date.now();
    await this.#orchestrator.eventStore.appendEvent(executionId, {
      type: CANCEL_REQUESTED,
      time,
      key: CANCEL_KEY,
      data: { reason: reason ?? "cancelled while queued" },
    }, {
      // Never started: the request cancels it (see execution_view.ts).
      index: indexEntry("EXECUTION_CANCELLED", { agent: waiting!.request.agent, createdAt: time })!,
    });
    return true;
  }

  /**
   * Records an operator's decision and resumes the execution in this process.
   *
   * @param executionId The execution (status `NEEDS_DECISION`).
   * @param callId The call's id, or 8+ first characters of it.
   * @param decision What happened to the call.
   * @param by Who decided (recorded).
   * @returns Once the decision is recorded; the execution goes on in the background.
   * @throws {TypeError} When it waits for no decision on that call, or the decision is malformed.
   */
  async resolve(
    executionId: string,
    callId: string,
    decision: Decision,
    by: string,
  ): Promise<void> {
    await this.#orchestrator.resolve(executionId, callId, decision, { by });
    const resumed = await this.#orchestrator.startResume(executionId);
    resumed.done.catch((error) => {
      this.#log.error("Resuming execution {executionId} after a decision failed: {error}", {
        executionId,
        error: String(error),
      });
    });
  }

  /**
   * Executions running in this process.
   *
   * @returns Their number.
   */
  inFlight(): Promise<number> {
    return Promise.resolve(this.#orchestrator.running.length);
  }

  /**
   * Closes the orchestrator, cancelling what still runs.
   *
   * @returns Once closed.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#adoptTimers) clearTimeout(timer);
    this.#adoptTimers.clear();
    this.#waiting.length = 0; // their logs say QUEUED (or RUNNING, adopted): a next run finds them
    await this.#orchestrator.close();
  }

  // Reserves the idempotency key for this request: the key maps to the
  // execution id and a hash of what was asked, so that the same key with
  // another request is told apart from a repeat.
  async #reserve(
    request: SubmitRequest,
    executionId: string,
  ): Promise<{ duplicate: SubmitResult } | { release: () => Promise<void> }> {
    const persistence = this.#orchestrator.persistence;
    const key = `api-idempotency-${(await sha256Hex(request.idempotencyKey!)).slice(0, 40)}/submit`;
    const fingerprint = await sha256Hex(
      canonicalJson({ agent: request.agent, task: request.task, policy: request.policy ?? null }),
    );
    // The earlier submit of the key: a duplicate, or a reservation left
    // without execution (its version, to take it over).
    const earlier = async (): Promise<
      { duplicate: SubmitResult } | { stale: number } | undefined
    > => {
      const found = await persistence.load<Reservation>(key);
      if (!found) return undefined;
      const { data } = found;
      if (data.fingerprint !== undefined && data.fingerprint !== fingerprint) {
        throw new IdempotencyKeyReusedError(data.executionId);
      }
      if (await this.#abandoned(data, found.savedAt)) return { stale: found.version };
      return { duplicate: { executionId: data.executionId, duplicate: true } };
    };
    // A retried submit finds its key without a refused write (an error costs
    // its stack: 8 % of the CPU of duplicate submits, measured).
    const known = await earlier();
    if (known && "duplicate" in known) return known;
    try {
      const record: Reservation = { executionId, fingerprint, node: this.#node };
      await persistence.save(key, record, {
        expectedVersion: known?.stale ?? 0,
        ttlSeconds: this.#ttl,
      });
      return {
        release: async () => {
          await persistence.delete(key);
        },
      };
    } catch (error) {
      if (!(error instanceof StaleVersionError)) throw error;
      const raced = await earlier(); // the same key, submitted at the same time
      if (!raced || !("duplicate" in raced)) throw error;
      return raced;
    }
  }

  // Whether a reservation was left without execution: its submit failed and
  // could not give the key back (the store was down). Such an execution has
  // no event and no submit in progress; one reserved by another node (or an
  // earlier run of this one) is given ABANDONED_AFTER_MS to write its first.
  async #abandoned(reservation: Reservation, savedAt: number): Promise<boolean> {
    const { executionId, node } = reservation;
    if (this.#submitting.has(executionId)) return false;
    if (node !== this.#node && Date.now() - savedAt < ABANDONED_AFTER_MS) return false;
    return (await this.#orchestrator.eventStore.count(executionId)) === 0;
  }

  #busy(): BackendBusyError {
    return new BackendBusyError(
      `This node runs ${this.#active} executions (at most ${this.#maxRunning}) and ${this.#waiting.length} wait (at most ${this.#maxQueued}): retry later`,
      5,
    );
  }

  /**
   * Waits for a place among the executions this node runs (for the tasks of
   * a workflow, admitted with it) and takes it.
   *
   * @returns Gives the place back (once).
   */
  protected async admit(): Promise<() => void> {
    if (this.#active >= this.#maxRunning || this.#slotWaiters.length > 0) {
      await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    } else this.#active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active--;
      this.#drain();
    };
  }

  /**
   * Whether this node has room for more work: a workflow is refused at the
   * door (429) when its executions and waiting line are full.
   *
   * @throws {BackendBusyError} When it has none.
   */
  protected assertRoom(): void {
    if (this.#waiting.length + this.#slotWaiters.length >= this.#maxQueued) throw this.#busy();
  }

  // Starts waiting work while there is room: workflow tasks first (their
  // workflow was admitted already), then queued submits.
  #drain(): void {
    while (this.#active < this.#maxRunning && this.#slotWaiters.length > 0) {
      this.#active++;
      this.#slotWaiters.shift()!();
    }
    const limits = this.#agentLimits();
    for (let at = 0; this.#active < this.#maxRunning && at < this.#waiting.length;) {
      // In order, skipping executions whose agent runs its own maximum already.
      if (!this.#agentHasRoom(this.#waiting[at]!.request.agent, limits)) {
        at++;
        continue;
      }
      const next = this.#waiting.splice(at, 1)[0]!;
      if (next.adopted) {
        this.#adopt(next);
        continue;
      }
      this.#start(next.executionId, next.request).catch((error) => {
        this.#log.error("Queued execution {executionId} could not start: {error}", {
          executionId: next.executionId,
          error,
        });
      });
    }
  }

  // The agents' own maxRunning, read once per pass over the line (the
  // registrations are copied on every read).
  #agentLimits(): Map<string, number | undefined> {
    return new Map(this.#orchestrator.agents.map((a) => [a.name, a.maxRunning]));
  }

  #agentHasRoom(agent: string, limits = this.#agentLimits()): boolean {
    const limit = limits.get(agent);
    return limit === undefined || (this.#activeByAgent.get(agent) ?? 0) < limit;
  }

  // Resumes an orphan; while its dead runner's claim has not lapsed, tries
  // again when it will have.
  #adopt(orphan: Waiting): void {
    const { executionId } = orphan;
    this.#run(executionId, orphan.request.agent, "EXECUTION_RESUMED", async () => {
      const resumed = await this.#orchestrator.startResume(executionId);
      // startResume returns at once, running nothing, for an execution that
      // is no longer RUNNING (it ended, or waits for a decision, meanwhile).
      if (this.#orchestrator.running.includes(executionId)) {
        this.#log.warn(
          orphan.adopted?.retake === undefined
            ? "Execution {executionId}, running when its process died, resumed here"
            : "Execution {executionId}, which failed while the store was unreachable, resumed",
          { executionId },
        );
      } else {
        resumed.done.then((report) => {
          this.#log.info("Execution {executionId} is {status} already: nothing to resume", {
            executionId,
            status: report.status,
          });
        }, () => {});
      }
      return resumed;
    }).catch((error) => {
      const attempts = orphan.adopted!.attempts + 1;
      if (error instanceof ExecutionBusyError && attempts < CLAIM_RETRY_ATTEMPTS && !this.#closed) {
        if (error.holder === "this process") return;
        if (attempts === 1) {
          this.#log.info(
            "Execution {executionId} is run by {holder}, which holds its claim: left to it (resumed here only if that claim lapses)",
            { executionId, holder: error.holder },
          );
        }
        return this.#adoptLater(orphan, { attempts }, error.expiresInMs + CLAIM_RETRY_MARGIN_MS);
      }
      if (error instanceof StoreUnavailableError && orphan.adopted!.retake !== undefined) {
        return this.#retake(orphan, orphan.adopted!.retake + 1);
      }
      if (error instanceof ExecutionBusyError) {
        this.#log.debug("Execution {executionId} is left to {holder}, which renews its claim", {
          executionId,
          holder: error.holder,
        });
        return;
      }
      this.#log.warn(
        "Execution {executionId}, running when its process died, not resumed: {error}",
        {
          executionId,
          error: String(error),
        },
      );
    });
  }

  // Takes back, RETAKE_AFTER_MS from now, an execution whose run failed
  // because the store was unreachable (see RETAKE_AFTER_MS).
  #retake(orphan: Waiting, retake: number): void {
    if (retake >= RETAKE_ATTEMPTS || this.#closed) {
      this.#log.warn(
        "Execution {executionId} failed while the store was unreachable and was not taken back: resume it",
        { executionId: orphan.executionId },
      );
      return;
    }
    this.#adoptLater(orphan, { attempts: 0, retake }, RETAKE_AFTER_MS);
  }

  // Lines an orphan up again, `ms` from now, to be resumed (#adopt).
  #adoptLater(orphan: Waiting, adopted: NonNullable<Waiting["adopted"]>, ms: number): void {
    const timer = setTimeout(() => {
      this.#adoptTimers.delete(timer);
      this.#waiting.push({ ...orphan, adopted });
      this.#drain();
    }, ms);
    this.#adoptTimers.add(timer);
  }

  async #start(executionId: string, request: SubmitRequest): Promise<string> {
    const { recorded, report } = await this.#run(
      executionId,
      request.agent,
      "EXECUTION_STARTED",
      () =>
        this.#orchestrator.start(request.agent, request.task, {
          executionId,
          ...(request.policy ? { policy: request.policy } : {}),
          ...(request.traceparent ? { traceparent: request.traceparent } : {}),
        }),
    );
    if (recorded) return executionId;
    // It ended without its start stored (the store was down, and so the
    // record of its failure too): nothing was accepted, the submit is refused.
    const error = (await report.catch(() => undefined))?.error;
    const cause = new Error(error?.message ?? "its start was not recorded");
    if (error?.code === "STORE_UNAVAILABLE") {
      throw new StoreUnavailableError(`the start of execution "${executionId}"`, { cause });
    }
    throw new Error(`Execution "${executionId}" ended before its start was recorded`, { cause });
  }

  // Runs one execution in a place of the line: counted until it ends,
  // returned once its first event (`recordedType`) is recorded, or once it
  // ended without it (`recorded` false; its report follows).
  async #run(
    executionId: string,
    agent: string,
    recordedType: string,
    launch: () => Promise<StartedExecution>,
  ): Promise<{ recorded: boolean; report: Promise<ExecutionReport> }> {
    this.#active++;
    this.#activeByAgent.set(agent, (this.#activeByAgent.get(agent) ?? 0) + 1);
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      this.#active--;
      const left = this.#activeByAgent.get(agent)! - 1;
      if (left > 0) this.#activeByAgent.set(agent, left);
      else this.#activeByAgent.delete(agent);
      this.#drain();
    };
    let unsubscribe = () => {};
    const recorded = new Promise<true>((resolve) => {
      unsubscribe = this.#orchestrator.events.subscribe((event) => {
        if (event.executionId === executionId && event.type === recordedType) resolve(true);
      });
    });
    try {
      const started = await launch();
      const done = started.done.catch((error) => {
        this.#log.error("Execution {executionId} ended abnormally: {error}", {
          executionId,
          error,
        });
        throw error;
      });
      done.then(finish, finish);
      done.then((report) => {
        if (report.status === "FAILED" && report.error?.code === "STORE_UNAVAILABLE") {
          this.#retake({ executionId, request: { agent, task: null } }, 0);
        }
      }, () => {});
      const first = await Promise.race([recorded, done.then(() => false as const)]);
      return { recorded: first, report: done };
    } catch (error) {
      finish();
      throw error;
    } finally {
      unsubscribe();
    }
  }
}

function _positive(value: number, name: string, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(
      `Invalid ${name} ${JSON.stringify(value)}: expected an integer >= ${min}`,
    );
  }
  return value;
}
