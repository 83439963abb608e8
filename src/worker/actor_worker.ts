/**
 * Entry point of every actor worker. The host starts each worker from a tiny
 * bootstrap module that statically imports, in this order: this file and the
 * actor's verified bundle (static imports need no read permission, so an
 * actor can run with none); then it calls {@linkcode startActorWorker}.
 * Module evaluation follows that order, and this file, evaluated in a worker,
 * calls {@linkcode hardenGuest} as it evaluates: the global scope is hardened
 * before any of the actor's code runs.
 *
 * @module
 */
import { behaviorFromModule } from "../actor/behavior.ts";
import {
  type HostToPool,
  type HostToWorker,
  PARK_RELEASED,
  PARK_WAITING,
  type PoolToHost,
  SAB_PARK,
  type WorkerToHost,
} from "../actor/_protocol.ts";
import { toErrorInfo } from "../oao_error.ts";
import { WorkerRuntime } from "./_worker_runtime.ts";
import { _PoolOwners, type StorageConstructor } from "./_pool_owners.ts";

import { hardenGuest } from "./_guest_hardening.ts";

export { hardenGuest };

// The worker's own `close`, taken as this module evaluates, before the
// hardening replaces it with one that refuses and before the actor's code
// runs: a parked worker ends itself with it.
const closeWorker = (globalThis as { close?: () => void }).close?.bind(globalThis);
// Taken likewise: an actor that replaced them could not turn its park into a spin.
const { compareExchange, load, wait } = Atomics;

// The host's messages reach the runtime through a listener registered as
// this module evaluates, before the actor's code runs: a listener of the
// actor's runs after it, and cannot keep a message (the host's `park`, say)
// from the runtime by stopping its propagation.
let fromHost: ((data: never) => void) | undefined;
// Only the host's: a message event the actor's code dispatched is not trusted.
globalThis.addEventListener("message", (event) => {
  if (event.isTrusted) fromHost?.((event as MessageEvent).data as never);
}, { capture: true });

// Hardened here, not by a module of its own that the bootstrap imports next:
// that module cost a worker's start 0.7 ms (its load, beside hardenGuest's
// own 0.3 ms), about 5 % of a spawn. Only in a worker: nothing else imports
// this file, but the host's own scope must never be hardened.
if (isWorkerScope()) hardenGuest();

function isWorkerScope(): boolean {
  const scope = globalThis as { WorkerGlobalScope?: abstract new () => unknown };
  return typeof scope.WorkerGlobalScope === "function" &&
    globalThis instanceof scope.WorkerGlobalScope;
}

// A bound on a park, should no release ever come (the host releases a parked
// worker within about a second): the worker then ends itself all the same.
const PARK_LIMIT_MS = 10_000;

// Blocks this worker until the host releases it, then ends it: no timer,
// promise or frame of the failed incarnation runs in between. A release that
// came first (SAB_PARK already 2) ends it at once. `close` stops the
// worker's JavaScript where it is (Deno terminates the isolate's execution).
function parkThenClose(sab: Int32Array): void {
  let word = load(sab, SAB_PARK);
  while (word !== PARK_RELEASED && word !== PARK_WAITING) {
    const seen = compareExchange(sab, SAB_PARK, word, PARK_WAITING);
    if (seen === word) {
      wait(sab, SAB_PARK, PARK_WAITING, PARK_LIMIT_MS);
      break;
    }
    word = seen;
  }
  closeWorker?.();
}

/**
 * Runs the actor runtime in this worker for the given behaviour module.
 *
 * @param module The actor module's namespace object.
 *
 * @example
 * ```ts ignore
 * import { startActorWorker } from "./actor_worker.ts";
 * import * as counter from "../../actors/counter.ts";
 * startActorWorker(counter);
 * ```
 */
export function startActorWorker(module: Record<string, unknown>): void {
  const scope = globalThis as unknown as {
    postMessage(message: WorkerToHost, transfer?: Transferable[]): void;
  };
  const post = (message: WorkerToHost, transfer?: Transferable[]) =>
    transfer ? scope.postMessage(message, transfer) : scope.postMessage(message);
  let runtime: WorkerRuntime | undefined;
  let invalid: unknown;
  try {
    runtime = new WorkerRuntime(behaviorFromModule(module), post, { park: parkThenClose });
  } catch (error) {
    invalid = error;
  }
  let guarded = false;
  fromHost = (data: HostToWorker) => {
    try {
      if (runtime) runtime.onControl(data);
      else if (data.k === "init") post({ k: "init-failed", error: toErrorInfo(invalid) });
    } finally {
      // Once the init is handled, before any message is: the first listener
      // costs a worker 0.1–0.3 ms, which the ready's way to the host hides.
      // (A rejection the module's own top level left fails the load.)
      if (!guarded) {
        guarded = true;
        onUncaught((reason, error) => runtime?.fail(reason, error));
      }
    }
  };
}

// Errors that escaped every handler of this worker's code, and what becomes of them.
function onUncaught(
  fail: (reason: "unhandled_rejection" | "worker_error", error: unknown) => void,
) {
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    fail("unhandled_rejection", event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    fail("worker_error", event.error ?? new Error(event.message));
  });
}

/**
 * Runs a pooled worker for the given behaviour module: one worker hosts many
 * actors of that module, each with its own runtime (mailbox, ordering, state,
 * snapshots, links), addressed by slot. Module-level globals are shared by
 * the actors of the worker. An error that escapes every handler fails the
 * actor whose code started it — a promise, timer or microtask of its own
 * (see `_pool_owners.ts`) — and that actor alone. One that cannot be blamed
 * on one actor fails each actor of the worker, and the worker retires (the
 * host ends it).
 *
 * @param module The actor module's namespace object.
 * @param Storage `AsyncLocalStorage` of `node:async_hooks`, which tells the
 *   actor an error belongs to (imported by the pooled workers' bootstrap
 *   only: it adds ~1.5 ms to a worker's start).
 *
 * @example
 * ```ts ignore
 * import { AsyncLocalStorage } from "node:async_hooks";
 * import { startPooledActorWorker } from "./actor_worker.ts";
 * import * as echo from "../../actors/echo.ts";
 * startPooledActorWorker(echo, AsyncLocalStorage);
 * ```
 */
export function startPooledActorWorker(
  module: Record<string, unknown>,
  Storage: StorageConstructor,
): void {
  const scope = globalThis as unknown as {
    postMessage(message: PoolToHost, transfer?: Transferable[]): void;
  };
  let behavior: ReturnType<typeof behaviorFromModule> | undefined;
  let invalid: unknown;
  try {
    behavior = behaviorFromModule(module);
  } catch (error) {
    invalid = error;
  }
  const runtimes = new Map<number, WorkerRuntime>();
  let retired = false;
  // While the worker retires: its actors' last words, sent with `retire`.
  let lastWords: { s: number; m: WorkerToHost }[] | undefined;
  const owners = new _PoolOwners<WorkerRuntime>(
    Storage,
    (runtime, error) => runtime.fail("worker_error", error),
  );
  owners.install(globalThis);
  // One timer beats every runtime: thousands of idle actors cost no timers of their own.
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  fromHost = (data: HostToPool) => {
    if ("ping" in data) return scope.postMessage({ pong: data.ping });
    if ("drop" in data) {
      runtimes.get(data.s)?.dispose();
      runtimes.delete(data.s);
      return;
    }
    const s = data.s;
    let runtime = runtimes.get(s);
    if (!runtime) {
      if (data.m.k !== "init" || retired) return;
      const post = (message: WorkerToHost, transfer?: Transferable[]) => {
        if (lastWords) lastWords.push({ s, m: message });
        else if (transfer) scope.postMessage({ s, m: message }, transfer);
        else scope.postMessage({ s, m: message });
      };
      if (!behavior) return post({ k: "init-failed", error: toErrorInfo(invalid) });
      runtime = new WorkerRuntime(behavior, post, { ownHeartbeat: false });
      runtimes.set(s, runtime);
    }
    owners.run(runtime, () => runtime.onControl(data.m));
    if (heartbeat === undefined && runtime.heartbeatMs > 0) {
      heartbeat = setInterval(() => {
        for (const r of runtimes.values()) r.beat();
      }, runtime.heartbeatMs);
    }
  };
  onUncaught((reason, error) => {
    if (retired) return;
    const owner = owners.current();
    if (owner !== undefined) return owner.fail(reason, error);
    retired = true;
    // One message: the host marks the worker ending before it hands each
    // actor its failure, so that no restart is placed in it in between.
    lastWords = [];
    for (const runtime of runtimes.values()) runtime.fail(reason, error);
    const failures = lastWords;
    lastWords = undefined;
    scope.postMessage({ k: "retire", error: toErrorInfo(error), failures });
  });
}
