/**
 * Entry point of every actor worker. The host starts each worker from a tiny
 * bootstrap module that statically imports, in this order: this file, a
 * module that calls {@linkcode hardenGuest}, and the actor's verified bundle
 * (static imports need no read permission, so an actor can run with none);
 * then it calls {@linkcode startActorWorker}. Module evaluation follows that
 * order, so the global scope is hardened before any of the actor's code runs.
 *
 * @module
 */
import { behaviorFromModule } from "../actor/behavior.ts";
import type { HostToWorker, WorkerToHost } from "../actor/_protocol.ts";
import { toErrorInfo } from "../errors.ts";
import { WorkerRuntime } from "./_worker_runtime.ts";

export { hardenGuest } from "./_guest_hardening.ts";

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
    onmessage: ((event: MessageEvent<HostToWorker>) => void) | null;
  };
  const post = (message: WorkerToHost, transfer?: Transferable[]) =>
    transfer ? scope.postMessage(message, transfer) : scope.postMessage(message);
  let runtime: WorkerRuntime | undefined;
  let invalid: unknown;
  try {
    runtime = new WorkerRuntime(behaviorFromModule(module), post);
  } catch (error) {
    invalid = error;
  }
  scope.onmessage = (event) => {
    if (runtime) return runtime.onControl(event.data);
    if (event.data.k === "init") post({ k: "init-failed", error: toErrorInfo(invalid) });
  };
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    runtime?.fail("unhandled_rejection", event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    runtime?.fail("worker_error", event.error ?? new Error(event.message));
  });
}
