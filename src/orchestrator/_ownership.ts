// Exactly one runner per execution. Internal.
//
// Every runner (a start, a resume in any process, a worker node's job) holds
// a claim on the execution in its event store while it runs it
// (`EventStore.claim`): a lease with a fencing token one above every earlier
// runner's. A second runner is refused with `ExecutionBusyError` naming the
// holder until the holder releases the claim or stops renewing it; the
// token fences the writes of every earlier holder (events and snapshots), so
// a holder that lost its claim (paused, partitioned) can write nothing.
//
// One timer per orchestrator renews all its claims every third of the claim's
// duration. A renewal the store refuses means another runner took the
// execution: the claim's `lost` signal aborts the run (its writes would be
// fenced anyway). A renewal that fails because the store is unreachable is
// retried at the next tick: if the store stays away longer than the claim,
// another runner may take over, and this one is fenced.
//
// A claim held by a process that died on this machine is taken over at once
// instead of after its expiry: the holder's name carries its pid and host
// (and pid namespace, when readable), and a pid that no longer runs on the
// same host cannot write any more.
import type { Logger } from "@logtape/logtape";
import type { Clock, TimerId } from "../clock.ts";
import { ExecutionBusyError, toErrorInfo } from "../errors.ts";
import type { EventStore } from "../events/event_store.ts";

/** How long a claim holds without renewal: a crashed runner's execution waits this long. */
export const DEFAULT_CLAIM_TTL_MS = 15_000;

/** The claim of one runner on one execution. */
export interface ExecutionClaim {
  readonly executionId: string;
  /** Fencing token for every write of the run. */
  readonly token: number;
  /** Aborted when another runner took the execution. */
  readonly lost: AbortSignal;
  /** Stops renewing and gives the execution up. Idempotent; never rejects. */
  release(): Promise<void>;
  /** Stops renewing and fences this claim's own writes out (token + 1). */
  revoke(): Promise<void>;
}

/**
 * A claim held by a runner that renews it is tried again this long after it
 * should have lapsed, and at most {@linkcode CLAIM_RETRY_ATTEMPTS} times: a
 * runner that renews its claim through all of them is alive, and keeps it.
 */
export const CLAIM_RETRY_MARGIN_MS = 500;
/** See {@linkcode CLAIM_RETRY_MARGIN_MS}. */
export const CLAIM_RETRY_ATTEMPTS = 4;

/** Options of {@linkcode Ownership}. */
export interface OwnershipOptions {
  clock: Clock;
  log: Logger;
  /** @default {DEFAULT_CLAIM_TTL_MS} */
  ttlMs?: number;
  /** @default {thisProcess()} */
  owner?: string;
  /** What the claims are on, as log lines name it. @default {"execution"} */
  subject?: "execution" | "workflow";
  /**
   * Logs taking a dead runner's claim over at debug level (the caller says
   * what it takes over itself). @default {false}
   */
  quietTakeover?: boolean;
}

interface Held {
  claim: ExecutionClaim;
  lost: AbortController;
}

/** The claims one orchestrator holds, renewed together. */
export class Ownership {
  readonly #store: EventStore;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly #owner: string;
  readonly #subject: string;
  readonly #quietTakeover: boolean;
  readonly #held = new Map<string, Held>();
  #timer: TimerId | undefined;

  constructor(store: EventStore, options: OwnershipOptions) {
    this.#store = store;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#ttlMs = options.ttlMs ?? DEFAULT_CLAIM_TTL_MS;
    this.#owner = options.owner ?? thisProcess();
    this.#subject = options.subject ?? "execution";
    this.#quietTakeover = options.quietTakeover === true;
  }

  /**
   * Claims an execution for this process.
   *
   * @throws {ExecutionBusyError} When another runner holds it.
   */
  async acquire(
    executionId: string,
    options: { takeOver?: boolean } = {},
  ): Promise<ExecutionClaim> {
    if (this.#held.has(executionId)) {
      throw new ExecutionBusyError(executionId, `this process (${this.#owner})`, this.#ttlMs);
    }
    const request = { owner: this.#owner, ttlMs: this.#ttlMs, takeOver: options.takeOver === true };
    let result = await this.#store.claim(executionId, request);
    if (!result.acquired && holderIsGone(result.holder)) {
      const message =
        `Taking over ${this.#subject} {executionId} from {holder}, which no longer runs`;
      const props = { executionId, holder: result.holder };
      if (this.#quietTakeover) this.#log.debug(message, props);
      else this.#log.warn(message, props);
      // Only from that holder: another resumer may have replaced it meanwhile.
      result = await this.#store.claim(executionId, { ...request, replacing: result.holder });
    }
    if (!result.acquired) {
      throw new ExecutionBusyError(executionId, result.holder, result.expiresInMs);
    }
    return this.#hold(executionId, result.token);
  }

  /** Stops renewing (claims expire on their own; runs were stopped before). */
  close(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held.clear();
  }

  #hold(executionId: string, token: number): ExecutionClaim {
    const lost = new AbortController();
    let done = false;
    const drop = () => {
      if (done) return false;
      done = true;
      if (this.#held.get(executionId)?.claim === claim) this.#held.delete(executionId);
      return true;
    };
    const claim: ExecutionClaim = {
      executionId,
      token,
      lost: lost.signal,
      release: async () => {
        if (!drop()) return;
        await this.#store.releaseClaim(executionId, token).catch(() => {});
      },
      revoke: async () => {
        drop();
        await this.#store.fence(executionId, token + 1);
      },
    };
    this.#held.set(executionId, { claim, lost });
    this.#schedule();
    return claim;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#held.size === 0) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#renewAll().finally(() => this.#schedule());
    }, Math.max(1, Math.floor(this.#ttlMs / 3)));
  }

  async #renewAll(): Promise<void> {
    await Promise.all([...this.#held.values()].map(async ({ claim, lost }) => {
      try {
        if (await this.#store.renewClaim(claim.executionId, claim.token, this.#ttlMs)) return;
        if (this.#held.get(claim.executionId)?.claim !== claim) return; // released meanwhile
        this.#held.delete(claim.executionId);
        this.#log.warn(
          `${
            capitalize(this.#subject)
          } {executionId} was taken over by another runner; stopping here`,
          { executionId: claim.executionId },
        );
        lost.abort(new Error(`Execution "${claim.executionId}" was taken over by another runner`));
      } catch (error) {
        this.#log.warn(`Cannot renew the claim on ${this.#subject} {executionId}: {message}`, {
          executionId: claim.executionId,
          message: toErrorInfo(error).message,
        });
      }
    }));
  }
}

/**
 * This process as a claim owner: `process <pid> on <host> (pid namespace <n>)`.
 * Host and namespace are left out when the permissions do not allow reading them.
 */
export function thisProcess(): string {
  const host = tryOr(() => Deno.hostname(), "");
  const ns = pidNamespace();
  return `process ${Deno.pid}${host ? ` on ${host}` : ""}${ns ? ` (pid namespace ${ns})` : ""}`;
}

const OWNER = /^process (\d+) on (\S+)(?: \(pid namespace (\d+)\))?$/;

/**
 * Whether a holder is a process of this host that no longer runs. The check
 * sends it SIGWINCH (ignored by default), which needs the `run` permission;
 * without it, or for a holder on another host, the holder counts as running.
 * The pid namespace (readable with all permissions only) tells containers
 * that share a host name apart when both sides know theirs; when one does
 * not, a live holder in another container could be taken for dead: it is
 * then fenced out (it can write nothing), and its calls in flight are
 * settled as after a crash (idempotent ones again, others by a decision).
 */
export function holderIsGone(holder: string): boolean {
  const match = OWNER.exec(holder);
  if (!match) return false;
  const [, pid, host, ns] = match;
  if (Number(pid) === Deno.pid || host !== tryOr(() => Deno.hostname(), "")) return false;
  const ours = pidNamespace();
  if (ns && ours && ns !== ours) return false;
  try {
    Deno.kill(Number(pid), "SIGWINCH");
    return false;
  } catch (error) {
    return error instanceof Deno.errors.NotFound;
  }
}

function pidNamespace(): string {
  return tryOr(() => /\[(\d+)\]/.exec(Deno.readLinkSync("/proc/self/ns/pid"))?.[1] ?? "", "");
}

function tryOr<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
